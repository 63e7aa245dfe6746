#pragma once

#include <stdexcept>
#include <string>

namespace ingestd {

/// Process exit codes; systemd's RestartPreventExitStatus and scripts rely on these values.
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 2,
  kExitAuth = 3,
  kExitDatabase = 4,
  kExitSubmission = 5,
  kExitTemporary = 75,
  kExitSigint = 130,
  kExitSigterm = 143,
};

/// Every error that leaves a module boundary carries the exit code main() translates it to,
/// so the retryable-versus-fatal decision for the whole process lives with the thrower. A stage
/// that cannot go on throws one of the types below, chosen by cause; it never picks a code.
class Error : public std::runtime_error {
 public:
  Error(int exit_code, const std::string& message)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

/// An error whose cause alone decides the exit code; one distinct type per cause.
template <ExitCode Code, typename Cause>
struct CausedError : Error {
  explicit CausedError(const std::string& m) : Error(Code, m) {}
};
using ConfigError = CausedError<kExitUsage, struct ConfigCause>;
using AuthError = CausedError<kExitAuth, struct AuthCause>;
using SubmissionError = CausedError<kExitSubmission, struct SubmissionCause>;
using TemporaryError = CausedError<kExitTemporary, struct TemporaryCause>;

/// Why a database operation failed; decided in one place (src/store), acted on by the store
/// itself (reconnect, fall back to the staging table) and by nobody else.
enum class DatabaseFailure { connection_lost, unique_violation, other };

struct DatabaseError : Error {
  explicit DatabaseError(const std::string& m, DatabaseFailure f = DatabaseFailure::other)
      : Error(kExitDatabase, m), failure_(f) {}
  DatabaseFailure failure() const noexcept { return failure_; }

 private:
  DatabaseFailure failure_;
};

/// An upstream answer that no retry can fix (an unexpected 4xx, a schema newer than the binary).
struct FatalError : Error {
  explicit FatalError(const std::string& m, int code = kExitUsage) : Error(code, m) {}
};

/// A body that is not a complete, well-formed page (truncated, not JSON, a broken data array).
/// It must never be treated as a page: the request is retried. Not an Error: the source that
/// fetched it decides whether a retry is left.
class PageError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

/// A complete, valid JSON body that is not a page of the API spoken (no "data" array, no
/// "pagination" object, ...): no retry can fix it. The message names what is missing, e.g.
/// `has no "pagination" object`.
class ContractError : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

}  // namespace ingestd
