//! How leaf's validated types describe themselves in the OpenAPI document.
//!
//! A type that checks its input (a tournament id, an event type, a page size) keeps its rule
//! in one place, itself, and builds its schema here from the same constants. Each type's
//! tests check that its parser and its published pattern agree ([`agrees_with_pattern`]), so
//! the document cannot promise what the code refuses or the other way round.

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};

/// A string schema: `pattern` is anchored (`^…$`) and written with four-digit `\u` escapes
/// only, so JavaScript, Python and Rust read it alike.
pub fn text(pattern: &str, lengths: (usize, usize), description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .min_length(Some(lengths.0))
        .max_length(Some(lengths.1))
        .description(Some(description))
        .into()
}

/// A string schema with a well-known `format` besides its pattern.
pub fn formatted_text(
    pattern: &str,
    format: KnownFormat,
    lengths: (usize, usize),
    description: &str,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(format)))
        .pattern(Some(pattern))
        .min_length(Some(lengths.0))
        .max_length(Some(lengths.1))
        .description(Some(description))
        .into()
}

/// An integer schema from `min` to `max`, both included.
pub fn integer(min: u64, max: u64, description: &str) -> RefOr<Schema> {
    // JSON has one number type: the bounds say the range, not a `format` (int64 would read
    // as signed to some tools, and u64's top half does not fit it).
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(utoipa::Number::UInt(as_usize(min))))
        .maximum(Some(utoipa::Number::UInt(as_usize(max))))
        .description(Some(description))
        .into()
}

fn as_usize(n: u64) -> usize {
    // leaf builds for 64-bit targets only (x86-64 Linux): every u64 fits.
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Whether `parse` accepts exactly the strings that `pattern` matches, for `input`: the
/// property each validated type's tests check over generated strings.
#[cfg(test)]
pub fn agrees_with_pattern(pattern: &str, input: &str, parse: impl Fn(&str) -> bool) -> bool {
    let re = regex::Regex::new(pattern).expect("a published pattern compiles");
    re.is_match(input) == parse(input)
}
