# bpf_object(NAME SOURCES a.bpf.c b.bpf.c ...)
#
# Compiles each BPF C file with clang (CO-RE, BTF), links them into one
# object with `bpftool gen object` (maps marked __weak in bpf/lib/maps.h are
# merged into one), and generates the skeleton header NAME.skel.h. Creates an
# INTERFACE target NAME_skel that puts the skeleton on the include path.
find_program(BPF_CLANG NAMES clang-14 clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(KTRAIL_VMLINUX_DIR ${PROJECT_SOURCE_DIR}/bpf/vmlinux/x86)

function(bpf_object NAME)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/bpf)
  file(MAKE_DIRECTORY ${out_dir})
  file(GLOB_RECURSE bpf_headers ${PROJECT_SOURCE_DIR}/bpf/lib/*.h ${PROJECT_SOURCE_DIR}/bpf/*.bpf.c)
  set(objects)
  foreach(src ${ARG_SOURCES})
    get_filename_component(base ${src} NAME_WE)
    set(obj ${out_dir}/${base}.bpf.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${BPF_CLANG} -target bpf -g -O2 -mcpu=v3 -D__TARGET_ARCH_x86
              -Wall -Werror -Wno-unused-function
              -I${KTRAIL_VMLINUX_DIR} -I${PROJECT_SOURCE_DIR}/include -I${PROJECT_SOURCE_DIR}/bpf
              -c ${CMAKE_CURRENT_SOURCE_DIR}/${src} -o ${obj}
      DEPENDS ${src} ${bpf_headers} ${PROJECT_SOURCE_DIR}/include/ktrail/wire.h
      COMMENT "BPF ${src}"
      VERBATIM)
    list(APPEND objects ${obj})
  endforeach()
  set(linked ${out_dir}/${NAME}.bpf.o)
  set(skel ${out_dir}/${NAME}.skel.h)
  add_custom_command(
    OUTPUT ${linked} ${skel}
    COMMAND ${BPFTOOL} gen object ${linked} ${objects}
    COMMAND ${BPFTOOL} gen skeleton ${linked} name ${NAME} > ${skel}
    DEPENDS ${objects}
    COMMENT "BPF link + skeleton ${NAME}"
    VERBATIM)
  add_custom_target(${NAME}_skel_gen DEPENDS ${skel})
  add_library(${NAME}_skel INTERFACE)
  add_dependencies(${NAME}_skel ${NAME}_skel_gen)
  target_include_directories(${NAME}_skel INTERFACE ${out_dir})
endfunction()
