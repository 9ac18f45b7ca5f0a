# AttnAddKernels.cmake: attn_add_kernels(), which compiles .attn specs ahead of time as part of
# a CMake build and links the kernels into a target.
#
#   attn_add_kernels(TARGET   <target>
#                    SPECS    <spec.attn>...
#                    TARGETS  <x86-64-v3|x86-64-v4|native|sm_80|sm_90a>...
#                    [DEFINES <name=value>...]      # -D overrides of the specs' consts
#                    [OPTIONS <attnc option>...]    # passed to attnc as they are
#                    [OUTPUT_DIR <dir>])
#
# For each spec and each target, attnc runs at build time and writes, in OUTPUT_DIR (default
# ${CMAKE_CURRENT_BINARY_DIR}/attn_kernels/<target>):
#   CPU targets: <spec>.<target>.o   (added to the target's sources) and <spec>.<target>.h
#   GPU targets: <spec>.<target>.ptx                                  and <spec>.<target>.h
# The headers declare the launch functions, attn_<name>_launch(); OUTPUT_DIR is added to the
# target's include path, so `#include "gemma2_local.x86-64-v3.h"` works. Exactly one C file of
# the program defines ATTN_<NAME>_IMPLEMENTATION before including a header (the kernel's
# descriptor is defined there). The outputs depend on the spec file and on the
# attnc executable: editing a spec or upgrading attnc rebuilds them. The target is linked to
# libattn (attnc::attn, the shared library), which the launch functions call.
include_guard(GLOBAL)

function(attn_add_kernels)
  cmake_parse_arguments(AK "" "TARGET;OUTPUT_DIR" "SPECS;TARGETS;DEFINES;OPTIONS" ${ARGN})
  if(AK_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "attn_add_kernels: unknown arguments: ${AK_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT AK_TARGET OR NOT TARGET ${AK_TARGET})
    message(FATAL_ERROR "attn_add_kernels: TARGET must name an existing target (got '${AK_TARGET}')")
  endif()
  if(NOT AK_SPECS)
    message(FATAL_ERROR "attn_add_kernels(${AK_TARGET}): SPECS is empty")
  endif()
  if(NOT AK_TARGETS)
    message(FATAL_ERROR "attn_add_kernels(${AK_TARGET}): TARGETS is empty "
                        "(x86-64-v3, x86-64-v4, native, sm_80, sm_90a)")
  endif()

  # The compiler: the installed package's, or the one built in this tree.
  if(TARGET attnc::attnc)
    set(_attnc attnc::attnc)
    set(_lib attnc::attn)
  elseif(TARGET attnc)
    set(_attnc attnc)
    set(_lib attn)
  else()
    message(FATAL_ERROR "attn_add_kernels: no attnc executable; call find_package(attnc) first")
  endif()

  if(NOT AK_OUTPUT_DIR)
    set(AK_OUTPUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/attn_kernels/${AK_TARGET})
  endif()
  file(MAKE_DIRECTORY ${AK_OUTPUT_DIR})

  set(_defs "")
  foreach(_d ${AK_DEFINES})
    list(APPEND _defs -D ${_d})
  endforeach()

  foreach(_spec ${AK_SPECS})
    get_filename_component(_abs ${_spec} ABSOLUTE)
    if(NOT EXISTS ${_abs})
      message(FATAL_ERROR "attn_add_kernels(${AK_TARGET}): no spec file ${_abs}")
    endif()
    get_filename_component(_name ${_abs} NAME_WE)
    foreach(_t ${AK_TARGETS})
      set(_base ${AK_OUTPUT_DIR}/${_name}.${_t})
      if(_t MATCHES "^sm_")
        set(_code ${_base}.ptx)
        set(_emit ptx)
      else()
        set(_code ${_base}.o)
        set(_emit obj)
      endif()
      # One run writes both: with several --emit kinds, -o names the stem.
      add_custom_command(
        OUTPUT ${_code} ${_base}.h
        COMMAND ${_attnc} --target=${_t} --emit=${_emit},header ${_defs} ${AK_OPTIONS} -o ${_base}
                ${_abs}
        DEPENDS ${_abs} ${_attnc}
        COMMENT "attnc: ${_name}.attn for ${_t}"
        VERBATIM)
      if(_emit STREQUAL "obj")
        set_source_files_properties(${_code} PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
      endif()
      # Listing the outputs as sources makes the target depend on them; the .o is linked,
      # the .ptx and .h are only generated.
      target_sources(${AK_TARGET} PRIVATE ${_code} ${_base}.h)
    endforeach()
  endforeach()

  target_include_directories(${AK_TARGET} PRIVATE ${AK_OUTPUT_DIR})
  target_link_libraries(${AK_TARGET} PRIVATE ${_lib})
endfunction()
