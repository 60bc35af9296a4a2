// Logging setup for daemons and tools (spdlog). Log lines are structured: a stable event
// name followed by key=value details, e.g. `LOG_INFO("node.registered node={} lease={}", ...)`.
// An error is logged once, where it is handled, not at every layer it passes through.
// Thread-safety: InitLogging must run before other threads log; logging itself is thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

#include "core/status.h"

namespace cvfs {

struct LoggingOptions {
  std::string program = "cvfs";  // appears in every line
  std::string level = "info";    // trace, debug, info, warn, error, critical, off
  std::string file;              // empty: stderr
};

// Installs the process-wide default logger. Returns kConfigError on an unknown level or
// an unwritable file; the previous logger stays in place then.
Status InitLogging(const LoggingOptions& options);

}  // namespace cvfs

#define LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
#define LOG_INFO(...) SPDLOG_INFO(__VA_ARGS__)
#define LOG_WARN(...) SPDLOG_WARN(__VA_ARGS__)
#define LOG_ERROR(...) SPDLOG_ERROR(__VA_ARGS__)
