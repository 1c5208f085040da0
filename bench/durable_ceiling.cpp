// The durable ceiling of one association: what a receiver must at least do per instance
// before it may answer Success, with nothing else. In a loop, on the disk under --dir:
// write the instance's bytes to a temp file, fsync it, close it, rename it into a
// directory, fsync that directory, and commit one small row in PostgreSQL (a durable
// commit: the server's fsync and synchronous_commit as configured). Every result is
// checked. Prints "<seconds> <count>" for bench/receive_compare.sh; not a pass/fail test.
//
// Usage: durable_ceiling --dir DIR --count N --bytes B --pg URL
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {
[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "durable_ceiling: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}
void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) die("open " + dir.string());
  if (::fsync(fd) != 0) die("fsync " + dir.string());
  if (::close(fd) != 0) die("close " + dir.string());
}
}  // namespace

int main(int argc, char** argv) {
  fs::path dir;
  long count = 300, bytes = 512 * 1024;
  std::string url;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--dir") dir = argv[i + 1];
    else if (a == "--count") count = std::atol(argv[i + 1]);
    else if (a == "--bytes") bytes = std::atol(argv[i + 1]);
    else if (a == "--pg") url = argv[i + 1];
  }
  if (dir.empty() || url.empty() || count <= 0 || bytes <= 0) {
    std::fprintf(stderr, "usage: %s --dir DIR --count N --bytes B --pg URL\n", argv[0]);
    return 2;
  }
  const fs::path incoming = dir / "incoming", store = dir / "store";
  fs::create_directories(incoming);
  fs::create_directories(store);
  pqxx::connection c(url);
  {
    pqxx::work w(c);
    w.exec("CREATE TABLE IF NOT EXISTS ceiling (id bigint PRIMARY KEY, path text NOT NULL)");
    w.exec("TRUNCATE ceiling");
    w.commit();
  }
  c.prepare("row", "INSERT INTO ceiling (id, path) VALUES ($1, $2)");
  std::vector<char> data(static_cast<size_t>(bytes), 'x');
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < count; ++i) {
    const fs::path temp = incoming / ("t" + std::to_string(i) + ".tmp");
    const fs::path final_path = store / (std::to_string(i) + ".dcm");
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) die("open " + temp.string());
    for (size_t off = 0; off < data.size();) {
      const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
      if (n < 0) die("write " + temp.string());
      off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) die("fsync " + temp.string());
    if (::close(fd) != 0) die("close " + temp.string());
    if (::rename(temp.c_str(), final_path.c_str()) != 0) die("rename " + temp.string());
    fsync_dir(store);
    pqxx::work w(c);
    w.exec_prepared("row", i, final_path.string());
    w.commit();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%.4f %ld\n", s, count);
  std::error_code ec;
  fs::remove_all(incoming, ec);
  fs::remove_all(store, ec);
  return 0;
}
