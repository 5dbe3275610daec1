// The small helpers of common/: CSV quoting and parsing, number formatting, CRC32 and FNV-1a,
// and JSON reading (bounded, with positions in errors) and writing.
#include <gtest/gtest.h>
#include <zlib.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "common/csv.h"
#include "common/format.h"
#include "common/hash.h"
#include "common/json.h"
#include "tests/support/error_text.h"

namespace hyperrep {
namespace {

using testing::data_error_of;

TEST(Csv, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(csv_field("plain name"), "plain name");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("line\nbreak"), "\"line\nbreak\"");
  EXPECT_EQ(csv_field("carriage\rreturn"), "\"carriage\rreturn\"");
  EXPECT_EQ(csv_field(""), "");
}

TEST(Csv, ParsingUndoesQuoting) {
  const std::vector<std::string> fields = {"a", "b,c", "say \"hi\"", "", "x\ry"};
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) line += (i ? "," : "") + csv_field(fields[i]);
  EXPECT_EQ(parse_csv_line(line), fields);
  EXPECT_EQ(parse_csv_line(""), std::vector<std::string>{""});
  EXPECT_EQ(parse_csv_line("a,,b,"), (std::vector<std::string>{"a", "", "b", ""}));
  EXPECT_EQ(parse_csv_line("\"open,quote"), std::vector<std::string>{"open,quote"});
}

TEST(Format, ShortestRoundTrip) {
  EXPECT_EQ(format_double(0.1), "0.1");
  EXPECT_EQ(format_double(-250.0), "-250");
  EXPECT_EQ(format_double(1e-300), "1e-300");
  EXPECT_EQ(format_double(std::nan("")), "nan");
  EXPECT_EQ(format_double(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(format_double(-std::numeric_limits<double>::infinity()), "-inf");
  for (double v : {1.0 / 3.0, 2.0 / 3.0 * 1e17, 5e-324, 0.30000000000000004}) {
    EXPECT_EQ(std::strtod(format_double(v).c_str(), nullptr), v) << format_double(v);
  }
}

TEST(Hash, Crc32MatchesZlibAcrossChunks) {
  const std::string text = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(crc32_bytes(text), 0x414fa339u);  // the well-known CRC32 of this sentence
  EXPECT_EQ(crc32_hex(0x414fa339u), "414fa339");
  EXPECT_EQ(crc32_hex(0x1u), "00000001");
  // Fed in two parts, the CRC continues where it stopped.
  EXPECT_EQ(crc32_bytes(text.substr(10), crc32_bytes(text.substr(0, 10))), 0x414fa339u);
}

// hyperrep's FNV-1a starts from 1469598103934665603 (0x14650fb0739d0383), not the published
// offset basis 14695981039346656037: every content, config and sweep hash on disk was made so.
// The expected values were computed independently (Python integers, mod 2^64).
TEST(Hash, Fnv1a64KnownValues) {
  Fnv64 empty;
  EXPECT_EQ(empty.hex(), "14650fb0739d0383");
  Fnv64 a;
  a.add(std::string_view("a"));
  EXPECT_EQ(a.hex(), "44bd8ad473cd9906");
  Fnv64 parts;
  parts.add(std::string_view("foo"));
  parts.add(std::string_view("bar"));
  Fnv64 whole;
  whole.add(std::string_view("foobar"));
  EXPECT_EQ(parts.h, whole.h);
  EXPECT_EQ(whole.hex(), "88fad7c0a8ff07f2");
}

TEST(JsonReader, ParsesValuesAndKeepsMemberOrder) {
  const JsonValue v =
      parse_json(" {\"b\": [1, -2.5e2, true, false, null], \"a\": {\"s\": \"x\\\"y\\u00e9\\n\"}, \"n\": NaN, \"z\": 0}\n", "t");
  ASSERT_EQ(v.kind, JsonKind::kObject);
  ASSERT_EQ(v.members.size(), 4u);
  EXPECT_EQ(v.members[0].first, "b");
  const auto& b = *v.find("b");
  ASSERT_EQ(b.items.size(), 5u);
  EXPECT_EQ(b.items[0].number, 1.0);
  EXPECT_EQ(b.items[1].number, -250.0);
  EXPECT_TRUE(b.items[2].boolean);
  EXPECT_EQ(b.items[3].kind, JsonKind::kBool);
  EXPECT_EQ(b.items[4].kind, JsonKind::kNull);
  EXPECT_EQ(v.find("a")->find("s")->text, "x\"y\xc3\xa9\n");
  EXPECT_TRUE(std::isnan(v.find("n")->number));
  EXPECT_EQ(v.find("missing"), nullptr);
}

TEST(JsonReader, ErrorsGiveLineAndColumn) {
  EXPECT_EQ(data_error_of([] { parse_json("{\n  \"a\": 1,\n  \"b\" 2\n}", "f.json"); }), "f.json:3:7: expected ':'");
  EXPECT_EQ(data_error_of([] { parse_json("[1, 2", "f.json"); }), "f.json:1:6: expected ',' or ']'");
  EXPECT_EQ(data_error_of([] { parse_json("\"abc", "f.json"); }), "f.json:1:5: unterminated string");
  EXPECT_EQ(data_error_of([] { parse_json("{} x", "f.json"); }), "f.json:1:4: unexpected 'x' after the value");
  EXPECT_EQ(data_error_of([] { parse_json("", "f.json"); }), "f.json:1:1: unexpected end of input");
  EXPECT_EQ(data_error_of([] { parse_json("-", "f.json"); }), "f.json:1:2: unexpected end of input");
  EXPECT_EQ(data_error_of([] { parse_json(std::string(300, '['), "f.json"); }), "f.json:1:202: nesting deeper than 200");
}

TEST(JsonReader, DeepNestingIsRefusedWithoutRecursion) {
  // 100 000 levels would exhaust the stack of a recursive parser; this one stops at the limit.
  const std::string deep(100000, '[');
  EXPECT_EQ(data_error_of([&] { parse_json(deep, "d.json"); }), "d.json:1:202: nesting deeper than 200");
  std::string ok(kJsonMaxDepth + 1, '[');
  ok += std::string(kJsonMaxDepth + 1, ']');
  EXPECT_EQ(parse_json(ok, "ok.json").kind, JsonKind::kArray);
}

TEST(JsonReader, NulBytesAndInfinity) {
  EXPECT_NE(data_error_of([] { parse_json(std::string("{}\0{}", 5), "n.json"); }).find("NUL"), std::string::npos);
  const JsonValue v = parse_json("[Infinity, -Infinity]", "i.json");
  ASSERT_EQ(v.items.size(), 2u);
  EXPECT_TRUE(std::isinf(v.items[0].number) && v.items[0].number > 0);
  EXPECT_TRUE(std::isinf(v.items[1].number) && v.items[1].number < 0);
}

TEST(JsonReader, NumbersReadAsTheNearestDouble) {
  // Written as Python and format_double write them; read back exactly, as strtod reads them.
  at::Generator gen = at::detail::createCPUGenerator(7);
  const auto values = torch::rand({20000}, gen, torch::kFloat64) * torch::pow(10.0, torch::randint(-8, 8, {20000}, gen));
  const auto v = values.accessor<double, 1>();
  JsonWriter w;
  w.begin_array();
  for (int64_t i = 0; i < values.size(0); ++i) w.value(v[i]);
  w.end_array();
  const JsonValue back = parse_json(w.str() + "\n", "r");
  ASSERT_EQ(back.items.size(), static_cast<size_t>(values.size(0)));
  int64_t wrong = 0;
  for (int64_t i = 0; i < values.size(0); ++i) wrong += back.items[static_cast<size_t>(i)].number != v[i];
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(parse_json("0.9303381542885225", "p").number, 0.9303381542885225);
}

TEST(JsonWriter, LineAndPrettyDocumentsReadBack) {
  JsonWriter w;
  w.begin_object().key("epoch").value(int64_t{3}).key("loss").value(0.25).key("name").value("a \"quoted\"\n name");
  w.key("bad").value(std::nan("")).key("ok").value(true).key("list").begin_array().value(1.5).null().end_array();
  w.end_object();
  EXPECT_EQ(w.str(),
            "{\"epoch\":3,\"loss\":0.25,\"name\":\"a \\\"quoted\\\"\\n name\",\"bad\":null,\"ok\":true,\"list\":[1.5,null]}");
  const JsonValue back = parse_json(w.str(), "w");
  EXPECT_EQ(back.find("name")->text, "a \"quoted\"\n name");
  EXPECT_EQ(back.find("loss")->number, 0.25);
  EXPECT_EQ(back.find("bad")->kind, JsonKind::kNull);

  JsonWriter p(true);
  p.begin_object().key("a").value(1).key("b").begin_object().key("c").value("d").end_object().end_object();
  EXPECT_EQ(p.str(), "{\n  \"a\": 1,\n  \"b\": {\n    \"c\": \"d\"\n  }\n}");
  EXPECT_EQ(parse_json(p.str(), "p").find("b")->find("c")->text, "d");
}

}  // namespace
}  // namespace hyperrep
