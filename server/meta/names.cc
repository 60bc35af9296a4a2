#include "server/meta/names.h"

#include "server/meta/meta_records.h"

namespace cvfs::server::meta {

Status ValidateName(std::string_view name) {
  if (name.empty() || name == "." || name == "..") {
    return Status::InvalidArgument("entry name '" + std::string(name) + "' is reserved");
  }
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("entry name holds '/' or NUL");
  }
  if (name.size() > kMaxNameBytes) {
    return {ErrorCode::kNameTooLong, "entry name of " + std::to_string(name.size()) + " bytes"};
  }
  return Status::Ok();
}

}  // namespace cvfs::server::meta
