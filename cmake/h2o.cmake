# libh2o-evloop for the gateway: Debian's h2o 2.2.5 source package (fetched and unpacked with
# Debian's patches by scripts/setup, into a cache outside the checkout) with the project's patches/
# applied, built statically into this build tree by scripts/h2o-build. The build never downloads.
#
# Sets H2O_INCLUDE_DIRS, H2O_LINK_LIBRARIES and the target h2o_evloop (what must be built first).
# -DDOMICILE_SYSTEM_H2O=ON builds against Debian's unpatched libh2o-evloop-dev instead, and
# -DDOMICILE_H2O_SKIP_PATCHES="0003-....patch ..." leaves patches out: both show what a patch fixes.

set(DOMICILE_H2O_VERSION "2.2.5+dfsg2-7") # the version scripts/setup fetches and patches/ is written for
set(DOMICILE_H2O_SOURCE "" CACHE PATH "Debian's h2o source tree unpacked by scripts/setup (default: found in its cache)")
set(DOMICILE_H2O_SKIP_PATCHES "" CACHE STRING "patches/ files to leave out (space-separated names)")

if(DOMICILE_SYSTEM_H2O)
    pkg_check_modules(H2O REQUIRED libh2o-evloop)
    add_custom_target(h2o_evloop)
    message(STATUS "libh2o-evloop: Debian's libh2o-evloop-dev, without the project's patches")
    return()
endif()

set(_h2o_source "${DOMICILE_H2O_SOURCE}")
if(NOT _h2o_source)
    # the same places scripts/setup writes to
    set(_candidates)
    if(DEFINED ENV{DOMICILE_H2O_CACHE})
        list(APPEND _candidates "$ENV{DOMICILE_H2O_CACHE}/source")
    endif()
    list(APPEND _candidates "/var/cache/domicile/h2o/source")
    if(DEFINED ENV{XDG_CACHE_HOME})
        list(APPEND _candidates "$ENV{XDG_CACHE_HOME}/domicile/h2o/source")
    elseif(DEFINED ENV{HOME})
        list(APPEND _candidates "$ENV{HOME}/.cache/domicile/h2o/source")
    endif()
    foreach(dir ${_candidates})
        if(EXISTS "${dir}/.domicile-h2o-version")
            file(STRINGS "${dir}/.domicile-h2o-version" _version LIMIT_COUNT 1)
            if(_version STREQUAL DOMICILE_H2O_VERSION)
                set(_h2o_source "${dir}")
                break()
            endif()
        endif()
    endforeach()
endif()
if(NOT _h2o_source OR NOT EXISTS "${_h2o_source}/.domicile-h2o-version")
    message(FATAL_ERROR
        "Debian's h2o ${DOMICILE_H2O_VERSION} source package is missing. Run scripts/setup (as root): it fetches it "
        "from the Debian archive this machine's apt uses into /var/cache/domicile/h2o (or ~/.cache/domicile/h2o, or "
        "$DOMICILE_H2O_CACHE). The build itself never downloads. (-DDOMICILE_SYSTEM_H2O=ON builds against Debian's "
        "unpatched libh2o-evloop-dev instead.)")
endif()

file(STRINGS "${CMAKE_SOURCE_DIR}/patches/series" _series REGEX "^[^#]")
set(_patch_files)
foreach(name ${_series})
    list(APPEND _patch_files "${CMAKE_SOURCE_DIR}/patches/${name}")
endforeach()

# Instrument h2o too under ASan (a bug in a patch shows up there); the other sanitizers and the fuzz
# build link the same patched library without instrumentation, as they did Debian's.
set(_h2o_cflags "")
if(DOMICILE_ASAN)
    set(_h2o_cflags "-fsanitize=address -fno-omit-frame-pointer")
endif()

set(_h2o_dir "${CMAKE_BINARY_DIR}/h2o")
set(_h2o_lib "${_h2o_dir}/libh2o-evloop.a")
add_custom_command(
    OUTPUT "${_h2o_lib}"
    COMMAND sh "${CMAKE_SOURCE_DIR}/scripts/h2o-build" "${_h2o_source}" "${CMAKE_SOURCE_DIR}/patches" "${_h2o_dir}"
            "${DOMICILE_H2O_SKIP_PATCHES}" "${CMAKE_C_COMPILER}" "${_h2o_cflags}"
    DEPENDS "${CMAKE_SOURCE_DIR}/scripts/h2o-build" "${CMAKE_SOURCE_DIR}/patches/series" ${_patch_files}
            "${_h2o_source}/.domicile-h2o-version"
    COMMENT "Building libh2o-evloop (Debian's h2o ${DOMICILE_H2O_VERSION} + patches/)"
    VERBATIM)
add_custom_target(h2o_evloop ALL DEPENDS "${_h2o_lib}")

# picohttpparser (phr_*, exported by libh2o) for the upstream client's response parser: src/gateway/phr.h
set(H2O_INCLUDE_DIRS "${_h2o_dir}/src/include" "${_h2o_dir}/src/deps/picohttpparser")
set(H2O_LINK_LIBRARIES "${_h2o_lib}" ssl crypto z ${CMAKE_DL_LIBS})
message(STATUS "libh2o-evloop: Debian's h2o ${DOMICILE_H2O_VERSION} from ${_h2o_source} + patches/"
               "${DOMICILE_H2O_SKIP_PATCHES}")
