#include "tasks/image_data.h"

#include <zlib.h>

#include <array>
#include <set>

#include "common/error.h"
#include "common/fs.h"

namespace hyperrep::tasks {

const char* const kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

void TaskData::to(const torch::Device& device) {
  for (ImageSplit* s : {&train, &val, &test}) {
    if (!s->x.defined()) continue;
    s->x = s->x.to(device);
    s->y = s->y.to(device);
  }
}

torch::Tensor read_idx(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads raw files transparently too
  HYPERREP_CHECK(f != nullptr, DataError, "cannot open IDX file '", path, "'");
  std::string bytes;
  std::array<char, 1 << 16> buf;
  int n = 0;
  while ((n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()))) > 0) bytes.append(buf.data(), n);
  int errnum = 0;
  const char* msg = gzerror(f, &errnum);
  const std::string zerr = errnum != Z_OK && errnum != Z_STREAM_END ? msg : "";
  gzclose(f);
  HYPERREP_CHECK(n >= 0 && zerr.empty(), DataError, "IDX file '", path, "' is corrupt or truncated: ", zerr);
  HYPERREP_CHECK(bytes.size() >= 4, DataError, "IDX file '", path, "' is too short (", bytes.size(), " bytes)");
  const auto* u = reinterpret_cast<const unsigned char*>(bytes.data());
  HYPERREP_CHECK(u[0] == 0 && u[1] == 0, DataError, "IDX file '", path, "' has a bad magic number");
  HYPERREP_CHECK(u[2] == 0x08, DataError, "IDX file '", path, "' has element type 0x", std::hex, int(u[2]),
                 " (only unsigned bytes, 0x08, are supported)");
  const int ndim = u[3];
  HYPERREP_CHECK(ndim >= 1 && ndim <= 4, DataError, "IDX file '", path, "' has ", ndim, " dimensions");
  HYPERREP_CHECK(bytes.size() >= 4u + 4u * ndim, DataError, "IDX file '", path, "' is truncated in its header");
  std::vector<int64_t> dims;
  int64_t total = 1;
  for (int d = 0; d < ndim; ++d) {
    const unsigned char* p = u + 4 + 4 * d;
    const int64_t v = (int64_t(p[0]) << 24) | (int64_t(p[1]) << 16) | (int64_t(p[2]) << 8) | int64_t(p[3]);
    HYPERREP_CHECK(v > 0 && v < (int64_t(1) << 31), DataError, "IDX file '", path, "' has a bad dimension ", v);
    dims.push_back(v);
    total *= v;
  }
  const size_t header = 4u + 4u * ndim;
  HYPERREP_CHECK(bytes.size() == header + static_cast<size_t>(total), DataError, "IDX file '", path, "' holds ",
                 bytes.size() - header, " data bytes but its header promises ", total, " (truncated or corrupt)");
  auto t = torch::empty(dims, torch::kUInt8);
  std::memcpy(t.data_ptr<uint8_t>(), u + header, static_cast<size_t>(total));
  return t;
}

namespace {

std::string find_idx(const std::string& dir, const std::string& stem) {
  for (const std::string& name : {stem + ".gz", stem}) {
    if (path_exists(dir + "/" + name)) return dir + "/" + name;
  }
  HYPERREP_THROW(DataError, "no IDX file '", stem, "[.gz]' in '", dir, "'");
}

ImageSplit to_split(const torch::Tensor& images, const torch::Tensor& labels, const std::string& what) {
  HYPERREP_CHECK(images.dim() == 3 && labels.dim() == 1 && images.size(0) == labels.size(0), DataError, what,
                 ": images [N, H, W] and labels [N] do not match (", images.sizes(), " vs ", labels.sizes(), ")");
  return {images.unsqueeze(1).to(torch::kFloat32).div_(255.0), labels.to(torch::kInt64)};
}

}  // namespace

TaskData load_idx_task(const std::string& dir, int64_t train_size, int64_t val_size, int64_t test_size, int64_t split_seed,
                       const std::string& name) {
  TaskData t;
  t.name = name;
  auto train = to_split(read_idx(find_idx(dir, "train-images-idx3-ubyte")), read_idx(find_idx(dir, "train-labels-idx1-ubyte")),
                        dir + " (train)");
  auto test = to_split(read_idx(find_idx(dir, "t10k-images-idx3-ubyte")), read_idx(find_idx(dir, "t10k-labels-idx1-ubyte")),
                       dir + " (t10k)");
  const int64_t n = train.size();
  HYPERREP_CHECK(val_size < n, DataError, "zoo.task_val_size ", val_size, " leaves no training images of ", n);
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(split_seed));
  auto perm = torch::randperm(n, gen, torch::kInt64);
  const int64_t n_train = train_size > 0 ? std::min(train_size, n - val_size) : n - val_size;
  auto tr_idx = perm.narrow(0, 0, n_train);
  auto va_idx = perm.narrow(0, n - val_size, val_size);
  t.train = {train.x.index_select(0, tr_idx), train.y.index_select(0, tr_idx)};
  t.val = {train.x.index_select(0, va_idx), train.y.index_select(0, va_idx)};
  const int64_t n_test = test_size > 0 ? std::min(test_size, test.size()) : test.size();
  t.test = {test.x.narrow(0, 0, n_test), test.y.narrow(0, 0, n_test)};
  // Normalise with the statistics of the training split (as torchvision's Normalize does).
  const double mean = t.train.x.mean().item<double>();
  const double std = t.train.x.std().item<double>();
  for (ImageSplit* s : {&t.train, &t.val, &t.test}) s->x.sub_(mean).div_(std);
  t.input_shape = {1, train.x.size(2), train.x.size(3)};
  t.num_classes = std::max(train.y.max().item<int64_t>(), test.y.max().item<int64_t>()) + 1;
  return t;
}

namespace {

using Shape = std::vector<std::pair<int, int>>;

Shape rotate(const Shape& s) {
  Shape r;
  for (auto [y, x] : s) r.push_back({x, -y});
  int my = 1 << 20, mx = 1 << 20;
  for (auto [y, x] : r) my = std::min(my, y), mx = std::min(mx, x);
  for (auto& [y, x] : r) y -= my, x -= mx;
  std::sort(r.begin(), r.end());
  return r;
}

// Every placement (rotation x translation) of each class's tetromino on a 4x4 grid.
std::vector<std::vector<std::array<float, 16>>> tetris_placements() {
  const std::vector<Shape> bases = {
      {{0, 0}, {0, 1}, {0, 2}, {0, 3}},  // I
      {{0, 0}, {0, 1}, {1, 0}, {1, 1}},  // O
      {{0, 0}, {0, 1}, {0, 2}, {1, 1}},  // T
      {{0, 0}, {1, 0}, {2, 0}, {2, 1}},  // L
  };
  std::vector<std::vector<std::array<float, 16>>> out;
  for (const auto& base : bases) {
    std::set<Shape> rotations;
    Shape s = base;
    for (int r = 0; r < 4; ++r) {
      s = rotate(s);
      rotations.insert(s);
    }
    std::vector<std::array<float, 16>> imgs;
    for (const auto& rot : rotations) {
      int h = 0, w = 0;
      for (auto [y, x] : rot) h = std::max(h, y + 1), w = std::max(w, x + 1);
      for (int dy = 0; dy + h <= 4; ++dy)
        for (int dx = 0; dx + w <= 4; ++dx) {
          std::array<float, 16> img{};
          for (auto [y, x] : rot) img[(y + dy) * 4 + (x + dx)] = 1.0f;
          imgs.push_back(img);
        }
    }
    out.push_back(imgs);
  }
  return out;
}

ImageSplit tetris_split(int64_t n, double noise, torch::Generator& gen) {
  static const auto kPlacements = tetris_placements();
  auto labels = torch::randint(0, 4, {n}, gen, torch::kInt64);
  auto pick = torch::rand({n}, gen, torch::kFloat64);
  auto x = torch::zeros({n, 1, 4, 4}, torch::kFloat32);
  auto* px = x.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    const auto& options = kPlacements[labels[i].item<int64_t>()];
    const auto k = std::min<size_t>(options.size() - 1, static_cast<size_t>(pick[i].item<double>() * options.size()));
    std::copy(options[k].begin(), options[k].end(), px + i * 16);
  }
  if (noise > 0) x.add_(torch::randn({n, 1, 4, 4}, gen, torch::kFloat32) * noise);
  return {x, labels};
}

}  // namespace

TaskData make_tetris_task(int64_t train_size, int64_t val_size, int64_t test_size, double noise, int64_t seed) {
  TaskData t;
  t.name = "tetris";
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
  t.train = tetris_split(train_size, noise, gen);
  t.val = tetris_split(val_size, noise, gen);
  t.test = tetris_split(test_size, noise, gen);
  t.input_shape = {1, 4, 4};
  t.num_classes = 4;
  return t;
}

TaskData load_task(const ZooConfig& zoo) {
  switch (parse_enum<Task>(zoo.task, "zoo.task")) {
    case Task::kTetris:
      return make_tetris_task(zoo.task_train_size, zoo.task_val_size, zoo.task_test_size, zoo.tetris_noise, zoo.task_split_seed);
    case Task::kFashionMnist:
      return load_idx_task(zoo.task_path.empty() ? kFashionMnistDir : zoo.task_path, zoo.task_train_size, zoo.task_val_size,
                           zoo.task_test_size, zoo.task_split_seed, "fashion_mnist");
    case Task::kIdx:
      HYPERREP_CHECK(!zoo.task_path.empty(), ConfigError, "zoo.task = \"idx\" needs zoo.task_path (a directory of IDX files)");
      return load_idx_task(zoo.task_path, zoo.task_train_size, zoo.task_val_size, zoo.task_test_size, zoo.task_split_seed, "idx");
  }
  HYPERREP_THROW(InternalError, "task without a loader");
}

std::vector<int64_t> task_input_shape(Task task) {
  return task == Task::kTetris ? std::vector<int64_t>{1, 4, 4} : std::vector<int64_t>{1, 28, 28};
}

}  // namespace hyperrep::tasks
