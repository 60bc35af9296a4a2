#include "core/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <memory>

namespace cvfs {

Status InitLogging(const LoggingOptions& options) {
  const auto level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") {
    return Status::ConfigError("unknown log level '" + options.level +
                               "' (use trace, debug, info, warn, error, critical, off)");
  }
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (options.file.empty()) {
      logger = std::make_shared<spdlog::logger>(options.program,
                                                std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else {
      logger = std::make_shared<spdlog::logger>(
          options.program,
          std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file, /*truncate=*/false));
    }
  } catch (const spdlog::spdlog_ex& e) {
    return Status::ConfigError("cannot open log file '" + options.file + "': " + e.what());
  }
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %n[%P] %v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  spdlog::set_level(level);
  return Status::Ok();
}

}  // namespace cvfs
