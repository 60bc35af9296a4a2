#include "net/auth/munge_credential.h"

#include <munge.h>

#include <cstdlib>
#include <memory>

namespace cvfs::net::auth {

namespace {

struct CtxDeleter {
  void operator()(munge_ctx_t ctx) const { munge_ctx_destroy(ctx); }
};
using Ctx = std::unique_ptr<std::remove_pointer_t<munge_ctx_t>, CtxDeleter>;

Result<Ctx> MakeContext(const std::string& socket) {
  Ctx ctx(munge_ctx_create());
  if (!ctx) return Status::ResourceExhausted("munge_ctx_create failed");
  if (!socket.empty() &&
      munge_ctx_set(ctx.get(), MUNGE_OPT_SOCKET, socket.c_str()) != EMUNGE_SUCCESS) {
    return Status::ConfigError("munge socket " + socket + ": " + munge_ctx_strerror(ctx.get()));
  }
  return ctx;
}

bool IsDaemonProblem(munge_err_t err) {
  return err == EMUNGE_SOCKET || err == EMUNGE_TIMEOUT || err == EMUNGE_NO_MEMORY ||
         err == EMUNGE_SNAFU;
}

}  // namespace

Result<std::string> EncodeCredential(const std::string& socket, std::string_view payload) {
  CVFS_ASSIGN_OR_RETURN(Ctx ctx, MakeContext(socket));
  char* cred = nullptr;
  munge_err_t err =
      munge_encode(&cred, ctx.get(), payload.data(), static_cast<int>(payload.size()));
  if (err != EMUNGE_SUCCESS) {
    return Status::Unavailable(std::string("munge_encode: ") + munge_ctx_strerror(ctx.get()));
  }
  std::string out(cred);
  std::free(cred);
  return out;
}

Result<DecodedCredential> DecodeCredential(const std::string& socket,
                                           const std::string& credential) {
  CVFS_ASSIGN_OR_RETURN(Ctx ctx, MakeContext(socket));
  void* buf = nullptr;
  int len = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  munge_err_t err = munge_decode(credential.c_str(), ctx.get(), &buf, &len, &uid, &gid);
  std::unique_ptr<void, decltype(&std::free)> owned(buf, &std::free);
  if (err != EMUNGE_SUCCESS) {
    std::string why = std::string("munge_decode: ") + munge_ctx_strerror(ctx.get());
    if (IsDaemonProblem(err)) return Status::Unavailable(why);
    return Status::PermissionDenied(why);
  }
  DecodedCredential out;
  out.uid = uid;
  out.gid = gid;
  if (buf != nullptr && len > 0) out.payload.assign(static_cast<const char*>(buf), len);
  return out;
}

}  // namespace cvfs::net::auth
