#include "common/json.h"

#include <rapidjson/error/error.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <cstdlib>

#include "common/error.h"
#include "common/format.h"

namespace hyperrep {
namespace {

// Builds the value tree from RapidJSON's SAX events with an explicit stack of open containers.
class TreeBuilder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, TreeBuilder> {
 public:
  JsonValue root;
  bool too_deep = false;

  bool Null() { return add(JsonValue{}); }
  bool Bool(bool b) {
    JsonValue v;
    v.kind = JsonKind::kBool;
    v.boolean = b;
    return add(std::move(v));
  }
  bool Int(int i) { return number(i); }
  bool Uint(unsigned u) { return number(u); }
  bool Int64(int64_t i) { return number(static_cast<double>(i)); }
  bool Uint64(uint64_t u) { return number(static_cast<double>(u)); }
  bool Double(double d) { return number(d); }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    JsonValue v;
    v.kind = JsonKind::kString;
    v.text.assign(s, n);
    return add(std::move(v));
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    key_.assign(s, n);
    return true;
  }
  bool StartObject() { return open(JsonKind::kObject); }
  bool EndObject(rapidjson::SizeType) { return close(); }
  bool StartArray() { return open(JsonKind::kArray); }
  bool EndArray(rapidjson::SizeType) { return close(); }

 private:
  std::vector<JsonValue*> open_;  // the containers being filled, innermost last
  std::string key_;

  bool number(double d) {
    JsonValue v;
    v.kind = JsonKind::kNumber;
    v.number = d;
    return add(std::move(v));
  }
  // Places v in the innermost open container (or as the root) and returns where it lives.
  JsonValue* place(JsonValue v) {
    if (open_.empty()) {
      root = std::move(v);
      return &root;
    }
    JsonValue& parent = *open_.back();
    if (parent.kind == JsonKind::kArray) {
      parent.items.push_back(std::move(v));
      return &parent.items.back();
    }
    parent.members.emplace_back(std::move(key_), std::move(v));
    return &parent.members.back().second;
  }
  bool add(JsonValue v) {
    place(std::move(v));
    return true;
  }
  // A container's children are only appended while it is the innermost open one, so the
  // pointers in open_ stay valid (its parent's vector does not grow meanwhile).
  bool open(JsonKind kind) {
    if (static_cast<int>(open_.size()) > kJsonMaxDepth) {
      too_deep = true;
      return false;
    }
    JsonValue v;
    v.kind = kind;
    open_.push_back(place(std::move(v)));
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }
};

std::string describe(rapidjson::ParseErrorCode code, const std::string& text, size_t offset, bool too_deep) {
  const bool at_end = offset >= text.size();
  const std::string here = at_end ? "" : std::string(1, text[offset]);
  switch (code) {
    case rapidjson::kParseErrorDocumentEmpty: return "unexpected end of input";
    case rapidjson::kParseErrorDocumentRootNotSingular: return "unexpected '" + here + "' after the value";
    case rapidjson::kParseErrorValueInvalid: return at_end ? "unexpected end of input" : "invalid value at '" + here + "'";
    case rapidjson::kParseErrorObjectMissName: return "expected a string key";
    case rapidjson::kParseErrorObjectMissColon: return "expected ':'";
    case rapidjson::kParseErrorObjectMissCommaOrCurlyBracket: return "expected ',' or '}'";
    case rapidjson::kParseErrorArrayMissCommaOrSquareBracket: return "expected ',' or ']'";
    case rapidjson::kParseErrorStringUnicodeEscapeInvalidHex: return "invalid \\u escape";
    case rapidjson::kParseErrorStringUnicodeSurrogateInvalid: return "invalid UTF-16 surrogate pair";
    case rapidjson::kParseErrorStringEscapeInvalid: return "invalid escape sequence";
    case rapidjson::kParseErrorStringMissQuotationMark: return "unterminated string";
    case rapidjson::kParseErrorStringInvalidEncoding: return "invalid UTF-8";
    case rapidjson::kParseErrorNumberTooBig: return "number too large for a double";
    case rapidjson::kParseErrorNumberMissFraction: return "expected a digit after '.'";
    case rapidjson::kParseErrorNumberMissExponent: return "expected a digit in the exponent";
    case rapidjson::kParseErrorTermination:
      if (too_deep) return "nesting deeper than " + std::to_string(kJsonMaxDepth);
      return "parsing stopped";
    default: return "invalid JSON";
  }
}

}  // namespace

const JsonValue* JsonValue::find(const std::string& key) const {
  for (const auto& [k, v] : members) {
    if (k == key) return &v;
  }
  return nullptr;
}

const char* json_kind_name(JsonKind kind) {
  switch (kind) {
    case JsonKind::kNull: return "null";
    case JsonKind::kBool: return "boolean";
    case JsonKind::kNumber: return "number";
    case JsonKind::kString: return "string";
    case JsonKind::kArray: return "array";
    case JsonKind::kObject: return "object";
  }
  return "?";
}

JsonValue parse_json(const std::string& text, const std::string& source) {
  TreeBuilder builder;
  rapidjson::Reader reader;
  rapidjson::StringStream in(text.c_str());
  // Full precision: every number reads as the nearest double, as strtod does (the default
  // fast path is off by one bit for about one number in ten).
  constexpr unsigned kFlags =
      rapidjson::kParseIterativeFlag | rapidjson::kParseNanAndInfFlag | rapidjson::kParseFullPrecisionFlag;
  const rapidjson::ParseResult ok = reader.Parse<kFlags>(in, builder);
  // A NUL byte ends RapidJSON's input: anything after it is not JSON.
  if (ok && text.find('\0') != std::string::npos) {
    HYPERREP_THROW(DataError, source, ": a NUL byte inside the text");
  }
  if (!ok) {
    const size_t offset = ok.Offset();
    size_t line = 1, column = 1;
    for (size_t i = 0; i < offset && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    HYPERREP_THROW(DataError, source, ":", line, ":", column, ": ", describe(ok.Code(), text, offset, builder.too_deep));
  }
  return std::move(builder.root);
}

struct JsonWriter::Impl {
  rapidjson::StringBuffer buffer;
  std::unique_ptr<rapidjson::Writer<rapidjson::StringBuffer>> line;
  std::unique_ptr<rapidjson::PrettyWriter<rapidjson::StringBuffer>> pretty;

  template <typename F>
  void with(F&& f) {
    if (pretty) f(*pretty);
    else f(*line);
  }
};

JsonWriter::JsonWriter(bool pretty) : impl_(std::make_unique<Impl>()) {
  if (pretty) {
    impl_->pretty = std::make_unique<rapidjson::PrettyWriter<rapidjson::StringBuffer>>(impl_->buffer);
    impl_->pretty->SetIndent(' ', 2);
  } else {
    impl_->line = std::make_unique<rapidjson::Writer<rapidjson::StringBuffer>>(impl_->buffer);
  }
}

JsonWriter::~JsonWriter() = default;

JsonWriter& JsonWriter::begin_object() {
  impl_->with([](auto& w) { w.StartObject(); });
  return *this;
}
JsonWriter& JsonWriter::end_object() {
  impl_->with([](auto& w) { w.EndObject(); });
  return *this;
}
JsonWriter& JsonWriter::begin_array() {
  impl_->with([](auto& w) { w.StartArray(); });
  return *this;
}
JsonWriter& JsonWriter::end_array() {
  impl_->with([](auto& w) { w.EndArray(); });
  return *this;
}
JsonWriter& JsonWriter::key(std::string_view k) {
  impl_->with([&](auto& w) { w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()), true); });
  return *this;
}
JsonWriter& JsonWriter::value(std::string_view s) {
  impl_->with([&](auto& w) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()), true); });
  return *this;
}
JsonWriter& JsonWriter::value(double v) {
  if (!std::isfinite(v)) return null();
  const std::string text = format_double(v);
  impl_->with([&](auto& w) { w.RawValue(text.data(), text.size(), rapidjson::kNumberType); });
  return *this;
}
JsonWriter& JsonWriter::value(int64_t v) {
  impl_->with([&](auto& w) { w.Int64(v); });
  return *this;
}
JsonWriter& JsonWriter::value(bool v) {
  impl_->with([&](auto& w) { w.Bool(v); });
  return *this;
}
JsonWriter& JsonWriter::null() {
  impl_->with([](auto& w) { w.Null(); });
  return *this;
}

std::string JsonWriter::str() const { return std::string(impl_->buffer.GetString(), impl_->buffer.GetSize()); }

}  // namespace hyperrep
