# Turns a text file into a C++ function returning it, so the binary carries it (the dashboard
# page). Invoked in script mode:
#   cmake -DINPUT=... -DOUTPUT=... -DHEADER=serve/dashboard.hpp -DFUNCTION=dashboard_html -P EmbedText.cmake
file(READ "${INPUT}" text)
file(WRITE "${OUTPUT}.tmp" "#include \"${HEADER}\"\n\nnamespace ingestd {\n\nstd::string_view ${FUNCTION}() {\n  return R\"ingestd_text(${text})ingestd_text\";\n}\n\n}  // namespace ingestd\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
