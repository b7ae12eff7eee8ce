# FindCAF: the C++ Actor Framework 0.17 as Debian ships it (headers in
# /usr/include/caf, libcaf_{core,io,openssl}.so, no CMake config).
# Components: core io openssl. Gives CAF::<comp> (the names CAF >= 0.18's own
# config uses), CAF_FOUND, CAF_VERSION, CAF_INCLUDE_DIR. Set CAF_ROOT to look
# in a private prefix first (e.g. a static build).
include(FindPackageHandleStandardArgs)
find_package(Threads REQUIRED)
if(NOT CAF_FIND_COMPONENTS)
  set(CAF_FIND_COMPONENTS core)
endif()
find_path(CAF_INCLUDE_DIR caf/config.hpp HINTS ${CAF_ROOT}/include)
if(CAF_INCLUDE_DIR AND EXISTS "${CAF_INCLUDE_DIR}/caf/config.hpp")
  file(STRINGS "${CAF_INCLUDE_DIR}/caf/config.hpp" _caf_ver REGEX "^#define CAF_VERSION [0-9]+")
  if(_caf_ver MATCHES "CAF_VERSION ([0-9]+)")
    math(EXPR _maj "${CMAKE_MATCH_1} / 10000")
    math(EXPR _min "(${CMAKE_MATCH_1} / 100) % 100")
    math(EXPR _pat "${CMAKE_MATCH_1} % 100")
    set(CAF_VERSION "${_maj}.${_min}.${_pat}")
  endif()
endif()
set(_caf_libs)
foreach(comp IN LISTS CAF_FIND_COMPONENTS)
  find_library(CAF_${comp}_LIBRARY NAMES caf_${comp} caf_${comp}_static NAMES_PER_DIR HINTS ${CAF_ROOT}/lib)
  if(CAF_${comp}_LIBRARY)
    set(CAF_${comp}_FOUND TRUE)
    list(APPEND _caf_libs CAF_${comp}_LIBRARY)
  endif()
endforeach()
find_package_handle_standard_args(CAF REQUIRED_VARS CAF_INCLUDE_DIR ${_caf_libs}
  VERSION_VAR CAF_VERSION HANDLE_COMPONENTS)
if(CAF_FOUND)
  foreach(comp IN LISTS CAF_FIND_COMPONENTS)
    if(CAF_${comp}_FOUND AND NOT TARGET CAF::${comp})
      add_library(CAF::${comp} UNKNOWN IMPORTED)
      set_target_properties(CAF::${comp} PROPERTIES
        IMPORTED_LOCATION "${CAF_${comp}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES Threads::Threads)
      if(NOT comp STREQUAL "core" AND TARGET CAF::core)
        set_property(TARGET CAF::${comp} APPEND PROPERTY INTERFACE_LINK_LIBRARIES CAF::core)
      endif()
    endif()
  endforeach()
endif()
mark_as_advanced(CAF_INCLUDE_DIR)
