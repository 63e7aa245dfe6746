# Writes the version and the git commit the binary is built from into a C++ source, rewritten
# only when either changes, so `ingestd --version` names the exact source. Run at every build in
# script mode:
#   cmake -DSOURCE_DIR=... -DOUTPUT=... -DVERSION=0.1.0 -P GitVersion.cmake
# Outside a git checkout (a source tarball) the commit is "unknown".
execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE rc ERROR_QUIET)
if(NOT rc EQUAL 0 OR commit STREQUAL "")
  set(commit "unknown")
else()
  execute_process(COMMAND git -C "${SOURCE_DIR}" diff --quiet HEAD -- RESULT_VARIABLE dirty ERROR_QUIET)
  if(NOT dirty EQUAL 0)
    string(APPEND commit "-dirty")
  endif()
endif()
file(WRITE "${OUTPUT}.tmp" "#include \"app/version.hpp\"\n\nnamespace ingestd {\n\nstd::string_view version_text() {\n  return \"${VERSION} (git ${commit})\";\n}\n\n}  // namespace ingestd\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
