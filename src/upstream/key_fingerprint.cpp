#include "upstream/key_fingerprint.hpp"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

namespace ingestd {

std::string key_fingerprint(std::string_view api_key) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(api_key.data(), api_key.size(), digest.data(), &size, EVP_sha256(), nullptr) !=
          1 ||
      size < 8) {
    throw std::runtime_error("SHA-256 is unavailable");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int k = 0; k < 8; ++k) {
    out.push_back(kHex[digest[k] >> 4]);
    out.push_back(kHex[digest[k] & 15]);
  }
  return out;
}

}  // namespace ingestd
