// Validation of one directory entry name (not a path).
// Thread-safety: pure function.
#pragma once

#include <string_view>

#include "core/status.h"

namespace cvfs::server::meta {

// kInvalidArgument for "", ".", "..", or a name holding '/' or NUL; kNameTooLong above
// kMaxNameBytes (255) bytes.
Status ValidateName(std::string_view name);

}  // namespace cvfs::server::meta
