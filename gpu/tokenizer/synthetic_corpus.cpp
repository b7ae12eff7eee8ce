#include "gpu/tokenizer/synthetic_corpus.hpp"

namespace kairos {

// Plain prose written for this project: everyday topics, a little arithmetic
// and punctuation, so the merges look like those of a small English tokenizer.
std::string_view synthetic_training_text() {
  static constexpr std::string_view text = R"(The harbour town wakes up slowly. Before the sun is over the hills,
the bakers have already lit their ovens, and the smell of bread drifts down the
narrow streets toward the water. Fishing boats come back one by one, their
engines coughing, their decks stacked with crates of ice and silver fish. The
gulls know the schedule better than anyone; they circle the quay and shout at
each other while the crews tie up and start to unload.

By seven o'clock the market is open. A woman sells apples, pears and plums from
a wooden cart, and she writes the prices on a small slate: three apples for one
coin, a basket of plums for two. Her neighbour repairs watches at a folding
table. He works with a loupe in one eye and a pair of tweezers in his hand, and
he hums the same four notes over and over. Children on their way to school stop
to watch him open the back of a watch and lift out a spring no larger than an
eyelash.

The school is at the top of the hill. Its teacher, a patient man with grey
hair, starts every morning with a question written on the board. Today the
question is simple: if a train leaves the station at nine and travels for two
hours and forty minutes, when does it arrive? Most of the class answers twenty
to twelve. One boy insists that the train will be late, because the train is
always late, and the whole room laughs, the teacher included.

In the afternoon the wind turns. Clouds gather over the sea, and the light on
the water changes from blue to the colour of pewter. Shopkeepers bring their
signs inside. The fishermen check their ropes twice. Nobody is worried, exactly,
but everyone has seen a storm arrive faster than the forecast promised, and
nobody wants to be the one who left a window open.

The rain, when it comes, is heavy but brief. It drums on the roofs for twenty
minutes and then moves along the coast, leaving the streets shining and the
gutters running. The air smells of salt and wet stone. Someone starts to sweep
the water out of a doorway, and someone else opens a shutter and calls down to
ask whether the road to the lighthouse is still passable. It is, mostly.

The lighthouse keeper has kept the same routine for thirty years. She climbs
the one hundred and twelve steps every evening, cleans the lens, checks the
lamp and writes a line in the logbook: the date, the weather, the number of
ships she has seen pass. Her handwriting is small and careful. Some of the old
entries are funny. One of them, from a winter long ago, says only: fog, fog,
fog, a seal, more fog.

Working with language on a computer is a little like keeping that logbook. A
program that reads text does not see words the way people do. It sees a long
sequence of bytes, and it has to decide how to break them into pieces that are
useful to count and to compare. Some pieces are whole words, such as the, and,
water or morning. Others are fragments, such as ing, tion or pre, which appear
inside many different words. A good set of pieces makes common text short and
still lets the program spell out anything it has never seen before, one byte
at a time if it must.

The method used here is simple. Start with every single byte as its own piece.
Count which two neighbouring pieces appear together most often in a body of
text, join them into a new piece, and repeat. After a few hundred rounds, the
pieces start to look familiar: the, ing, ed, er, and a space followed by the
first letters of common words. After many thousands of rounds they cover whole
phrases. The order in which the pieces were joined is remembered, because the
same order has to be followed when new text is split later.

Numbers deserve a word of their own. Dates like 1999 or 2024, prices like 4.50
or 19.99, and quantities like 3 kg, 250 ml or 12 metres all appear in ordinary
writing. So do lists: first, second, third; one, two, three, four, five, six,
seven, eight, nine, ten. Punctuation matters as well. Commas, full stops,
question marks, colons and semicolons; quotation marks, brackets (like these)
and the occasional exclamation mark! A tokenizer that has never seen them
would have to spell them out every time.

Back in the town, evening arrives. The cafes put chairs out again, and the
tables fill with people who talk about the storm as if it had been much worse
than it was. The watchmaker packs his tools into a leather case. The woman with
the fruit cart counts her coins and decides that it was a good day, better than
yesterday, not as good as last Saturday. The boats are tied up, the nets are
drying, and the lighthouse begins to turn, sweeping its beam across the dark
water, once every ten seconds, the way it has done for a very long time.

Tomorrow will be much the same, and that is the point. A town like this one is
built on small routines repeated with care: bread before dawn, fish at first
light, a question on the board, a line in the logbook. Nothing about it is
remarkable, and all of it is worth writing down.
)";
  return text;
}

}  // namespace kairos
