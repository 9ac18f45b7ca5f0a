# Writes build_id.h: a hash of every source that shapes generated code. The kernel cache key
# includes it, so a rebuilt compiler never reuses kernels an older code generator produced,
# even when the version number did not change. Run with -DOUT=... -DROOT=<source dir>.
# Recursive: a source in a subfolder of compiler/ (cpu/, ptx/) left out of the hash would let a
# changed code generator reuse stale kernels from the cache.
file(GLOB_RECURSE SOURCES ${ROOT}/compiler/*.c ${ROOT}/compiler/*.h ${ROOT}/grammar/*
     ${ROOT}/runtime/cache.c)
list(SORT SOURCES)
set(_all "")
foreach(_f ${SOURCES})
  file(SHA256 ${_f} _h)
  string(APPEND _all "${_h}")
endforeach()
string(SHA256 _id "${_all}")
string(SUBSTRING "${_id}" 0 16 _id)
set(_text "#define ATTNC_BUILD_ID \"${_id}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} _old)
endif()
if(NOT "${_old}" STREQUAL "${_text}")
  file(WRITE ${OUT} "${_text}")
endif()
