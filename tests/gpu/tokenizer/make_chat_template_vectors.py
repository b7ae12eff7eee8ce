#!/usr/bin/env python3
"""Writes chat_template_vectors.json: chat templates rendered by real Jinja2.

The environment mirrors transformers' apply_chat_template (the renderer vLLM
uses): ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
extensions=[loopcontrols]), `tojson` replaced by json.dumps with
ensure_ascii=False, a `raise_exception` global, and the render variables
messages / tools / documents / add_generation_prompt plus the special
tokens that are set. (strftime_now is left out so the vectors do not depend
on the date.)

Each case is {name, template | template_file, context, options?} and either
"expected" (the exact rendered text) or "error" (the raise_exception text).
test_chat_template.cpp renders every case and compares byte for byte.

Run with a Python that has jinja2 (3.1.x):
    python3 tests/gpu/tokenizer/make_chat_template_vectors.py
"""

import json
import os

import jinja2
import jinja2.ext
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "..", "..", "shared"))


def make_env(trim_blocks=True, lstrip_blocks=True):
    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=trim_blocks, lstrip_blocks=lstrip_blocks, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def chat_context(messages, add_generation_prompt=True, tools=None, bos_token=None, eos_token=None, **kwargs):
    """The variables apply_chat_template passes (special tokens only when set)."""
    ctx = {}
    if bos_token is not None:
        ctx["bos_token"] = bos_token
    if eos_token is not None:
        ctx["eos_token"] = eos_token
    ctx.update(kwargs)
    ctx.update(messages=messages, tools=tools, documents=None, add_generation_prompt=add_generation_prompt)
    return ctx


# -- the templates --

QWEN3_FILE = "tokenizers/qwen3/tokenizer_config.json"
with open(os.path.join(SHARED, QWEN3_FILE), encoding="utf-8") as f:
    QWEN3 = json.load(f)
QWEN3_TEMPLATE = QWEN3["chat_template"]
QWEN3_EOS = QWEN3["eos_token"]

# Llama-3-Instruct's format: a header per turn, content trimmed, BOS first.
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim"
    " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# ChatML with a default system prompt, as SmolLM2-Instruct's.
CHATML = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# The template `kairos mkmodel` writes (tools/cmd_mkmodel.cpp): plain ChatML.
MKMODEL = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# A Llama-3.1-like tool template, written block-per-line so that
# trim_blocks / lstrip_blocks matter, with tojson(indent=4), slicing and
# raise_exception.
LLAMA31_TOOLS = """{{- bos_token }}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] | trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
<|start_header_id|>system<|end_header_id|>

{% if tools is not none %}
Environment: ipython
{% endif %}
{{ system_message }}
{%- if tools is not none %}
You have these functions:

    {%- for t in tools %}
{{ t | tojson(indent=4) }}
    {% endfor %}
{%- endif %}
<|eot_id|>
{%- for message in messages %}
    {%- if message.role not in ['user', 'assistant', 'ipython', 'tool'] %}
        {{- raise_exception('Unknown role: ' ~ message.role) }}
    {%- endif %}
    {%- if message.tool_calls is defined and message.tool_calls | length > 0 %}
        {%- set call = message.tool_calls[0].function %}
<|start_header_id|>assistant<|end_header_id|>

{"name": "{{ call.name }}", "parameters": {{ call.arguments | tojson }}}<|eot_id|>
    {%- else %}
<|start_header_id|>{{ 'ipython' if message.role == 'tool' else message.role }}<|end_header_id|>

{{ message.content | trim }}<|eot_id|>
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
<|start_header_id|>assistant<|end_header_id|>

{% endif %}
"""

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city (°C), e.g. \"Zürich\"",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "the city"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7.5},
            },
            "required": ["city"],
        },
    },
}
TIME_TOOL = {"type": "function", "function": {"name": "now", "description": "The time.", "parameters": {}}}

SYSTEM_USER = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]
MULTI_TURN_THINK = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "<think>\nSimple arithmetic: 2+2=4.\n</think>\n\n4"},
    {"role": "user", "content": "And 3*3?"},
    {"role": "assistant", "content": "<think>\nThree threes.\n</think>\n\nIt is 9."},
    {"role": "user", "content": "Thanks! Now say hi in 日本語."},
]
TOOL_CONVERSATION = [
    {"role": "system", "content": "You can call tools."},
    {"role": "user", "content": "Weather in Zürich and the time?"},
    {
        "role": "assistant",
        "content": "<think>\nI need two tools.\n</think>\n\nLet me check.",
        "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "days": 2}}},
            {"type": "function", "function": {"name": "now", "arguments": "{}"}},
        ],
    },
    {"role": "tool", "content": "{\"temp\": 21.5}"},
    {"role": "tool", "content": "12:00"},
    {"role": "assistant", "content": "It is 21.5 °C and noon."},
    {"role": "user", "content": "<tool_response>\nnot really a tool\n</tool_response>"},
]

CASES = []


def case(name, context, template=None, template_file=None, options=None):
    CASES.append(
        {"name": name, "template": template, "template_file": template_file, "context": context, "options": options}
    )


# Qwen3's real template.
for name, ctx in [
    ("qwen3 system+user", chat_context(SYSTEM_USER, eos_token=QWEN3_EOS)),
    ("qwen3 user, no generation prompt", chat_context(SYSTEM_USER[1:], False, eos_token=QWEN3_EOS)),
    ("qwen3 multi-turn with think blocks", chat_context(MULTI_TURN_THINK, eos_token=QWEN3_EOS)),
    ("qwen3 multi-turn, no generation prompt", chat_context(MULTI_TURN_THINK[:5], False, eos_token=QWEN3_EOS)),
    ("qwen3 tools", chat_context(SYSTEM_USER, tools=[WEATHER_TOOL, TIME_TOOL], eos_token=QWEN3_EOS)),
    ("qwen3 tools, no system", chat_context(SYSTEM_USER[1:], tools=[WEATHER_TOOL], eos_token=QWEN3_EOS)),
    ("qwen3 tool calls and responses", chat_context(TOOL_CONVERSATION, tools=[WEATHER_TOOL, TIME_TOOL], eos_token=QWEN3_EOS)),
    ("qwen3 enable_thinking=false", chat_context(SYSTEM_USER, eos_token=QWEN3_EOS, enable_thinking=False)),
    (
        "qwen3 reasoning_content",
        chat_context(
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello", "reasoning_content": "\nbe nice\n"},
                {"role": "assistant", "content": "again", "reasoning_content": None},
            ],
            False,
            eos_token=QWEN3_EOS,
        ),
    ),
]:
    case(name, ctx, template_file=QWEN3_FILE)

# Llama-3 and ChatML (SmolLM2) formats, and the mkmodel template.
for name, tmpl, ctx in [
    ("llama3 system+user", LLAMA3, chat_context(SYSTEM_USER, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")),
    (
        "llama3 multi-turn, no generation prompt",
        LLAMA3,
        chat_context(MULTI_TURN_THINK[1:4], False, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>"),
    ),
    ("chatml default system", CHATML, chat_context(SYSTEM_USER[1:], bos_token="<|im_start|>", eos_token="<|im_end|>")),
    ("chatml own system", CHATML, chat_context(SYSTEM_USER, False, bos_token="<|im_start|>", eos_token="<|im_end|>")),
    ("mkmodel chatml", MKMODEL, chat_context(MULTI_TURN_THINK[:3], bos_token="<|endoftext|>", eos_token="<|endoftext|>")),
    ("llama31-like no tools", LLAMA31_TOOLS, chat_context(SYSTEM_USER, bos_token="<|begin_of_text|>")),
    (
        "llama31-like tools",
        LLAMA31_TOOLS,
        chat_context(TOOL_CONVERSATION[1:4], tools=[WEATHER_TOOL, TIME_TOOL], bos_token="<|begin_of_text|>"),
    ),
    (
        "llama31-like unknown role raises",
        LLAMA31_TOOLS,
        chat_context([{"role": "robot", "content": "beep"}], bos_token="<|begin_of_text|>"),
    ),
]:
    case(name, ctx, template=tmpl)

# One construct each, against Jinja2 itself.
V = {
    "xs": [3, 1, 2],
    "s": "  Hello, Wörld  ",
    "d": {"b": 1, "a": [1.5, None, True], "c": {"k": "v"}},
    "n": 7,
    "f": 0.1,
    "empty": [],
}
CONSTRUCTS = [
    ("if/elif/else", "{% if n > 10 %}big{% elif n > 5 %}mid{% else %}small{% endif %}"),
    ("for loop vars", "{% for x in xs %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }},{% endfor %}"),
    ("for else", "{% for x in empty %}{{ x }}{% else %}none{% endfor %}"),
    ("for inline if", "{% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{% endfor %}"),
    ("for over dict items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}"),
    ("for over dict keys", "{% for k in d %}{{ k }}{% endfor %}"),
    ("break and continue", "{% for x in [1,2,3,4,5] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
    ("set in loop does not leak", "{% set y = 0 %}{% for x in xs %}{% set y = x %}{% endfor %}{{ y }}"),
    ("namespace", "{% set ns = namespace(total=0, seen=[]) %}{% for x in xs %}{% set ns.total = ns.total + x %}{% endfor %}{{ ns.total }}"),
    ("set block", "{% set greeting %}Hi {{ n }}!{% endset %}[{{ greeting }}]"),
    ("tuple set", "{% set a, b = [1, 2] %}{{ a }}{{ b }}"),
    ("macro", "{% macro tag(name, close=false) %}<{{ '/' if close }}{{ name }}>{% endmacro %}{{ tag('a') }}{{ tag('a', close=true) }}"),
    ("whitespace control", "a  {{- 'b' -}}  c\n  {%- if true -%}  d  {%- endif %}\ne"),
    ("trim and lstrip blocks", "line1\n    {% if true %}\n  kept\n    {% endif %}\nline2\n  {# note #}\nend\n"),
    ("comments", "a{# hidden {{ x }} #}b{#- stripped -#}   c"),
    ("literals", "{{ 'a' \"b\" }}|{{ 42 }}|{{ -3.5 }}|{{ 1e3 }}|{{ true }}|{{ none }}|{{ None }}|{{ [1, 'x', [none]] }}|{{ {'k': 1, 'j': 'v'} }}"),
    ("attribute and subscript", "{{ d.c.k }}{{ d['c']['k'] }}{{ d.a[0] }}{{ xs[-1] }}{{ xs.1 }}{{ d.missing }}|{{ xs[10] }}|"),
    ("slicing", "{{ xs[::-1] }}{{ xs[1:] }}{{ xs[:-1] }}{{ xs[::2] }}{{ 'abcdef'[1:4] }}{{ 'héllo'[::-1] }}{{ xs[5:] }}"),
    ("arithmetic", "{{ 7 + 2 }} {{ 7 - 2 }} {{ 7 * 2 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 1 + 0.5 }} {{ 'ab' * 2 }} {{ [1] + [2] }} {{ 1 ~ 'x' ~ none }}"),
    ("floats", "{{ f }} {{ f * 3 }} {{ 1e16 }} {{ 1e-5 }} {{ 123456789.0 }} {{ 2.5e-4 }} {{ 1.0 }} {{ 10 / 4 }}"),
    ("comparisons", "{{ 1 < 2 }}{{ 2 <= 2 }}{{ 'a' < 'b' }}{{ 1 == 1.0 }}{{ 'x' != 'y' }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}"),
    ("logic", "{{ true and 'yes' }}|{{ false or 'fallback' }}|{{ not empty }}|{{ none or 0 }}|{{ xs and xs[0] }}"),
    ("in and not in", "{{ 2 in xs }}{{ 5 not in xs }}{{ 'ell' in 'hello' }}{{ 'a' in d }}{{ 'z' in d }}"),
    ("tests", "{{ x is defined }}{{ n is defined }}{{ none is none }}{{ s is string }}{{ n is number }}{{ n is integer }}{{ f is float }}{{ d is mapping }}{{ xs is iterable }}{{ n is odd }}{{ n is even }}{{ 9 is divisibleby 3 }}{{ s is not none }}{{ true is true }}{{ 1 is sameas 1 }}{{ n is eq 7 }}{{ 'a' is in 'abc' }}"),
    ("conditional expression", "{{ 'a' if n > 3 else 'b' }}{{ 'c' if n < 3 else 'd' }}[{{ 'e' if false }}]"),
    ("filters", "{{ xs | length }}{{ s | trim }}|{{ 'Hello, World' | upper }}{{ 'Hello, World' | lower }}|{{ undefined_var | default('dflt') }}{{ '' | default('x', true) }}{{ xs | first }}{{ xs | last }}{{ xs | join('-') }}{{ d | items | list }}{{ n | string }}{{ 'hello world' | title }}{{ 'hello' | capitalize }}"),
    ("more filters", "{{ xs | list }}{{ 'ab' | list }}{{ xs | reverse | list }}{{ '42' | int + 1 }}{{ '2.5' | float }}{{ -3 | abs }}{{ 'a-b' | replace('-', '+') }}{{ xs | map('string') | join }}"),
    ("selectattr and map", "{% set ms = [{'role': 'system', 'c': 1}, {'role': 'user', 'c': 2}, {'role': 'user', 'c': 3}] %}{{ ms | selectattr('role', 'equalto', 'user') | map(attribute='c') | list }}{{ ms | rejectattr('role', 'eq', 'user') | list | length }}{{ [0, 1, 2] | select | list }}"),
    ("tojson", "{{ d | tojson }}|{{ 'Zürich \"q\" \\n\\t' | tojson }}|{{ [1.0, 2.5, none, false] | tojson }}|{{ d | tojson(indent=2) }}|{{ d | tojson(sort_keys=true) }}|{{ {} | tojson }}{{ [] | tojson(indent=2) }}|{{ 'é' | tojson(ensure_ascii=true) }}"),
    ("string methods", "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxhixx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}{{ ' a  b '.split() }}{{ 'a b c'.split(' ', 1) }}|{{ 'hello'.startswith('he') }}{{ 'hello'.endswith(('lo', 'x')) }}|{{ 'aXa'.replace('a', 'b') }}|{{ 'Hi'.upper() }}{{ 'Hi'.lower() }}{{ 'hello wORLD'.title() }}{{ 'hELLO'.capitalize() }}"),
    ("dict methods", "{{ d.keys() | list }}{{ d.get('b') }}{{ d.get('zz') }}{{ d.get('zz', 'dflt') }}{% for k, v in d.items() %}{{ k }}{% endfor %}{{ d.values() | list | length }}"),
    ("python str of values", "{{ [1, 'a', none, true, 2.0, {'k': 'it\\'s'}] }}|{{ {'a': [1]} }}|{{ (1, 2) | list }}{{ (1, 2) }}{{ (1,) }}{{ () }}"),
    ("undefined renders empty", "[{{ nothing }}][{{ nothing | length }}][{% if nothing %}t{% else %}f{% endif %}][{{ d.nope }}]"),
    ("raise_exception", "{% if n > 5 %}{{ raise_exception('n is too big: ' ~ n) }}{% endif %}never"),
    ("range and loop.cycle", "{% for i in range(3) %}{{ i }}{{ loop.cycle('a', 'b') }}{% endfor %}{{ range(1, 7, 2) | list }}"),
    ("string iteration and length", "{% for c in 'héj' %}[{{ c }}]{% endfor %}{{ 'héj' | length }}"),
    ("unary and precedence", "{{ -n + 1 }} {{ not true or true }} {{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ -n | abs }} {{ 'a' ~ 1 * 2 }}"),
    ("loop previtem nextitem", "{% for x in xs %}{{ loop.previtem | default('^') }}{{ x }}{{ loop.nextitem | default('$') }} {% endfor %}"),
]
for name, tmpl in CONSTRUCTS:
    case("construct: " + name, dict(V), template=tmpl)
# The same whitespace template without trim_blocks / lstrip_blocks (Jinja's own defaults).
case(
    "construct: no trim, no lstrip",
    dict(V),
    template="line1\n    {% if true %}\n  kept\n    {% endif %}\nline2\n",
    options={"trim_blocks": False, "lstrip_blocks": False},
)


def render(c):
    opts = c["options"] or {}
    env = make_env(opts.get("trim_blocks", True), opts.get("lstrip_blocks", True))
    src = c["template"]
    if src is None:
        with open(os.path.join(SHARED, c["template_file"]), encoding="utf-8") as f:
            src = json.load(f)["chat_template"]
    try:
        return {"expected": env.from_string(src).render(**c["context"])}
    except TemplateError as e:
        if type(e) is not TemplateError:  # syntax or undefined errors are bugs in this script
            raise
        return {"error": str(e)}


def main():
    out = []
    for c in CASES:
        entry = {"name": c["name"]}
        if c["template"] is not None:
            entry["template"] = c["template"]
        else:
            entry["template_file"] = c["template_file"]
        if c["options"]:
            entry["options"] = c["options"]
        entry["context"] = c["context"]
        entry.update(render(c))
        out.append(entry)
    path = os.path.join(HERE, "chat_template_vectors.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"jinja2_version": jinja2.__version__, "cases": out}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(out)} cases to {path}")


if __name__ == "__main__":
    main()
