//! Every valid form of a fragment and of a type compiles: each quoting form, typed literals,
//! casts, `OPERATOR(…)`, array and row constructors, `$` inside identifiers; types with
//! modifiers, interval fields, arrays, qualified and quoted user types.
use zdm_runtime::zero_downtime;

#[zero_downtime(id = "value_call", add_column(table = "t", column = "c", ty = "text", backfill = r#"lower(email)"#))]
pub struct ValueCall;

#[zero_downtime(id = "value_quote_doubled", add_column(table = "t", column = "c", ty = "text", backfill = r#"'it''s; fine'"#))]
pub struct ValueQuoteDoubled;

#[zero_downtime(id = "value_escape_string", add_column(table = "t", column = "c", ty = "text", backfill = r#"E'a\'b' || e'\\'"#))]
pub struct ValueEscapeString;

#[zero_downtime(id = "value_dollar_quote", add_column(table = "t", column = "c", ty = "text", backfill = r#"$$ a; b $$"#))]
pub struct ValueDollarQuote;

#[zero_downtime(id = "value_dollar_quote_tagged", add_column(table = "t", column = "c", ty = "text", backfill = r#"$tag$ it's; $$ not the end $tag$"#))]
pub struct ValueDollarQuoteTagged;

#[zero_downtime(id = "value_unicode_string", add_column(table = "t", column = "c", ty = "text", backfill = r#"U&'d\0061t\+000061'"#))]
pub struct ValueUnicodeString;

#[zero_downtime(id = "value_unicode_uescape", add_column(table = "t", column = "c", ty = "text", backfill = r#"U&'d!0061t' UESCAPE '!'"#))]
pub struct ValueUnicodeUescape;

#[zero_downtime(id = "value_unicode_identifier", add_column(table = "t", column = "c", ty = "text", backfill = r#"U&"d\0061t""#))]
pub struct ValueUnicodeIdentifier;

#[zero_downtime(id = "value_typed_literal", add_column(table = "t", column = "c", ty = "text", backfill = r#"date '2020-01-01'"#))]
pub struct ValueTypedLiteral;

#[zero_downtime(id = "value_typed_literal_backslash", add_column(table = "t", column = "c", ty = "text", backfill = r#"name '\'"#))]
pub struct ValueTypedLiteralBackslash;

#[zero_downtime(id = "value_casts", add_column(table = "t", column = "c", ty = "text", backfill = r#"'1'::int + amount::numeric(12, 2)"#))]
pub struct ValueCasts;

#[zero_downtime(id = "value_operator_syntax", add_column(table = "t", column = "c", ty = "text", backfill = r#"1 OPERATOR(pg_catalog.+) 2"#))]
pub struct ValueOperatorSyntax;

#[zero_downtime(id = "value_array", add_column(table = "t", column = "c", ty = "text", backfill = r#"ARRAY[1, 2, 3]"#))]
pub struct ValueArray;

#[zero_downtime(id = "value_array_nested", add_column(table = "t", column = "c", ty = "text", backfill = r#"ARRAY[[1, 2], [3, 4]]"#))]
pub struct ValueArrayNested;

#[zero_downtime(id = "value_row", add_column(table = "t", column = "c", ty = "text", backfill = r#"ROW(1, 'a')"#))]
pub struct ValueRow;

#[zero_downtime(id = "value_row_implicit", add_column(table = "t", column = "c", ty = "text", backfill = r#"(1, 2)"#))]
pub struct ValueRowImplicit;

#[zero_downtime(id = "value_dollar_in_identifiers", add_column(table = "t", column = "c", ty = "text", backfill = r#"a$b + "c$d" + e$$f$$"#))]
pub struct ValueDollarInIdentifiers;

#[zero_downtime(id = "value_case", add_column(table = "t", column = "c", ty = "text", backfill = r#"CASE WHEN paid THEN 1 ELSE 2 END"#))]
pub struct ValueCase;

#[zero_downtime(id = "value_bit_strings", add_column(table = "t", column = "c", ty = "text", backfill = r#"B'1010' || X'FF'"#))]
pub struct ValueBitStrings;

#[zero_downtime(id = "value_interval", add_column(table = "t", column = "c", ty = "text", backfill = r#"now() - interval '1 day'"#))]
pub struct ValueInterval;

#[zero_downtime(id = "value_subquery", add_column(table = "t", column = "c", ty = "text", backfill = r#"(SELECT c.id FROM customers AS c WHERE c.email = customer_email)"#))]
pub struct ValueSubquery;

#[zero_downtime(id = "value_distinct_from", add_column(table = "t", column = "c", ty = "text", backfill = r#"a IS NOT DISTINCT FROM b"#))]
pub struct ValueDistinctFrom;

#[zero_downtime(id = "value_collate", add_column(table = "t", column = "c", ty = "text", backfill = r#"email COLLATE "C""#))]
pub struct ValueCollate;

#[zero_downtime(id = "type_timestamp_precision_tz", add_column(table = "t", column = "c", ty = r#"timestamp(3) with time zone"#))]
pub struct TypeTimestampPrecisionTz;

#[zero_downtime(id = "type_time_precision", add_column(table = "t", column = "c", ty = r#"time(0) without time zone"#))]
pub struct TypeTimePrecision;

#[zero_downtime(id = "type_timestamptz_precision", add_column(table = "t", column = "c", ty = r#"timestamptz(6)"#))]
pub struct TypeTimestamptzPrecision;

#[zero_downtime(id = "type_interval_fields", add_column(table = "t", column = "c", ty = r#"interval day to second(3)"#))]
pub struct TypeIntervalFields;

#[zero_downtime(id = "type_interval_year_month", add_column(table = "t", column = "c", ty = r#"interval year to month"#))]
pub struct TypeIntervalYearMonth;

#[zero_downtime(id = "type_varchar_length", add_column(table = "t", column = "c", ty = r#"character varying(10)"#))]
pub struct TypeVarcharLength;

#[zero_downtime(id = "type_numeric_precision_scale", add_column(table = "t", column = "c", ty = r#"numeric(12, 2)"#))]
pub struct TypeNumericPrecisionScale;

#[zero_downtime(id = "type_bit_varying", add_column(table = "t", column = "c", ty = r#"bit varying(5)"#))]
pub struct TypeBitVarying;

#[zero_downtime(id = "type_float_bits", add_column(table = "t", column = "c", ty = r#"float(24)"#))]
pub struct TypeFloatBits;

#[zero_downtime(id = "type_double_precision", add_column(table = "t", column = "c", ty = r#"double precision"#))]
pub struct TypeDoublePrecision;

#[zero_downtime(id = "type_array_brackets", add_column(table = "t", column = "c", ty = r#"int[][]"#))]
pub struct TypeArrayBrackets;

#[zero_downtime(id = "type_array_bound", add_column(table = "t", column = "c", ty = r#"integer[3]"#))]
pub struct TypeArrayBound;

#[zero_downtime(id = "type_array_keyword", add_column(table = "t", column = "c", ty = r#"int ARRAY"#))]
pub struct TypeArrayKeyword;

#[zero_downtime(id = "type_qualified_user_type", add_column(table = "t", column = "c", ty = r#"public.mood"#))]
pub struct TypeQualifiedUserType;

#[zero_downtime(id = "type_quoted_user_type", add_column(table = "t", column = "c", ty = r#""public"."mood"[]"#))]
pub struct TypeQuotedUserType;

#[zero_downtime(id = "type_unicode_user_type", add_column(table = "t", column = "c", ty = r#"U&"m\006Fod""#))]
pub struct TypeUnicodeUserType;

#[zero_downtime(id = "condition", add_index(table = "t", columns = "c", where = "deleted_at IS NULL AND NOT archived"))]
pub struct Condition;

#[zero_downtime(
    id = "conversions",
    change_type(table = "t", column = "c", to = "numeric(12, 2)", up = "c::numeric / 100", down = "(c * 100)::bigint")
)]
pub struct Conversions;

zdm_runtime::migrations!(pub static MIGRATIONS = [
    ValueCall,
    ValueQuoteDoubled,
    ValueEscapeString,
    ValueDollarQuote,
    ValueDollarQuoteTagged,
    ValueUnicodeString,
    ValueUnicodeUescape,
    ValueUnicodeIdentifier,
    ValueTypedLiteral,
    ValueTypedLiteralBackslash,
    ValueCasts,
    ValueOperatorSyntax,
    ValueArray,
    ValueArrayNested,
    ValueRow,
    ValueRowImplicit,
    ValueDollarInIdentifiers,
    ValueCase,
    ValueBitStrings,
    ValueInterval,
    ValueSubquery,
    ValueDistinctFrom,
    ValueCollate,
    TypeTimestampPrecisionTz,
    TypeTimePrecision,
    TypeTimestamptzPrecision,
    TypeIntervalFields,
    TypeIntervalYearMonth,
    TypeVarcharLength,
    TypeNumericPrecisionScale,
    TypeBitVarying,
    TypeFloatBits,
    TypeDoublePrecision,
    TypeArrayBrackets,
    TypeArrayBound,
    TypeArrayKeyword,
    TypeQualifiedUserType,
    TypeQuotedUserType,
    TypeUnicodeUserType,
    Condition,
    Conversions,
]);

fn main() {
    assert_eq!(MIGRATIONS.len(), 41);
}
