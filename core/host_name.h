// The local host's name, as ConvergeFS uses it for default node ids and in node records:
// the short name (up to the first dot), so "cn0421.cluster.example" and "cn0421" agree
// between cvfsd, `cvfs doctor` and the Slurm hooks. "localhost" if gethostname fails.
// Thread-safety: safe from any thread.
#pragma once

#include <string>

namespace cvfs {

std::string ShortHostName();

}  // namespace cvfs
