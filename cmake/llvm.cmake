# Finds LLVM 19 through llvm-config-19 and links it statically (NVPTX + X86 + ORC), so that
# attnc and libattn run on machines that have no LLVM installed.
find_program(LLVM_CONFIG NAMES llvm-config-19 llvm-config
             HINTS /usr/lib/llvm-19/bin REQUIRED)
execute_process(COMMAND ${LLVM_CONFIG} --version OUTPUT_VARIABLE ATTNC_LLVM_VERSION
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT ATTNC_LLVM_VERSION MATCHES "^19\\.")
  message(FATAL_ERROR "attnc needs LLVM 19 (found ${ATTNC_LLVM_VERSION} at ${LLVM_CONFIG}); "
                      "install it with: apt-get install llvm-19-dev libzstd-dev")
endif()
execute_process(COMMAND ${LLVM_CONFIG} --includedir OUTPUT_VARIABLE ATTNC_LLVM_INCLUDE_DIR
                OUTPUT_STRIP_TRAILING_WHITESPACE)
execute_process(COMMAND ${LLVM_CONFIG} --link-static --libs nvptx x86 orcjit passes core native
                OUTPUT_VARIABLE _llvm_libs OUTPUT_STRIP_TRAILING_WHITESPACE)
execute_process(COMMAND ${LLVM_CONFIG} --libdir OUTPUT_VARIABLE _llvm_libdir
                OUTPUT_STRIP_TRAILING_WHITESPACE)
separate_arguments(_llvm_libs UNIX_COMMAND "${_llvm_libs}")
# LLVM's static libraries need the C++ runtime; z3 and libxml2 are optional LLVM features that
# attnc never reaches, so they are left out to keep the binaries free of those shared libraries.
set(ATTNC_LLVM_LIBS -L${_llvm_libdir} ${_llvm_libs} -lstdc++ -lz -lzstd -lrt -ldl -lm -lpthread)
