//! SQLite's five kinds of value (null, integer, real, text, blob) to and from the column
//! types of the PostgreSQL schema (BIGINT, DOUBLE PRECISION, TEXT, BYTEA, and what
//! expressions give: BOOLEAN, INTEGER, NUMERIC). The server says which type a
//! parameter or column has; a value is converted as SQLite would store it there.

use bytes::{BufMut as _, BytesMut};
use postgres::types::{IsNull, Type};
use rusqlite::types::{ToSqlOutput, ValueRef};

use rusqlite::types::ToSql;

use crate::store::error::{Error, Result};

/// The parameters of one execution, converted once.
pub struct Bound<'a>(Vec<ToSqlOutput<'a>>);

impl<'a> Bound<'a> {
    pub fn new(values: &[&'a dyn ToSql]) -> Result<Bound<'a>> {
        Ok(Bound(values.iter().map(|&value| value.to_sql()).collect::<rusqlite::Result<_>>()?))
    }

    /// Each value as a parameter for rust-postgres.
    pub fn params(&self) -> Vec<Param<'_>> {
        self.0.iter().map(|value| Param(value_ref(value))).collect()
    }

    /// The types to declare when the server cannot tell a parameter's type from the
    /// SQL (a bare `$1 IS NULL`): what the value is, text for a null.
    pub fn types(&self) -> Vec<Type> {
        self.0
            .iter()
            .map(|value| match value_ref(value) {
                ValueRef::Integer(_) => Type::INT8,
                ValueRef::Real(_) => Type::FLOAT8,
                ValueRef::Blob(_) => Type::BYTEA,
                ValueRef::Null | ValueRef::Text(_) => Type::TEXT,
            })
            .collect()
    }
}

fn value_ref<'v>(output: &'v ToSqlOutput<'_>) -> ValueRef<'v> {
    match output {
        ToSqlOutput::Borrowed(value) => *value,
        ToSqlOutput::Owned(value) => value.into(),
        // Zero blobs are written in place by SQLite's blob I/O; here they are empty.
        _ => ValueRef::Blob(&[]),
    }
}

/// One parameter value, written as whatever type the server expects.
#[derive(Debug)]
pub struct Param<'v>(ValueRef<'v>);

impl Param<'_> {
    pub fn as_sql(&self) -> &(dyn postgres::types::ToSql + Sync) {
        self
    }
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl postgres::types::ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        match self.0 {
            ValueRef::Null => return Ok(IsNull::Yes),
            ValueRef::Integer(value) => write_integer(value, ty, out)?,
            ValueRef::Real(value) => match *ty {
                Type::FLOAT8 => out.put_f64(value),
                Type::FLOAT4 => out.put_f32(value as f32),
                Type::NUMERIC => write_text_numeric(&value.to_string(), out)?,
                _ if value.fract() == 0.0 && value.abs() < 9.0e15 => write_integer(value as i64, ty, out)?,
                _ => return Err(mismatch("a real number", ty)),
            },
            ValueRef::Text(text) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => out.put_slice(text),
                Type::JSONB => {
                    out.put_u8(1);
                    out.put_slice(text);
                }
                Type::BYTEA => out.put_slice(text),
                _ => {
                    // SQLite keeps a number given as text in a numeric column as the number.
                    let number: i64 = std::str::from_utf8(text)
                        .ok()
                        .and_then(|text| text.trim().parse().ok())
                        .ok_or_else(|| mismatch("text", ty))?;
                    write_integer(number, ty, out)?
                }
            },
            ValueRef::Blob(bytes) => match *ty {
                Type::BYTEA => out.put_slice(bytes),
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN if std::str::from_utf8(bytes).is_ok() => out.put_slice(bytes),
                _ => return Err(mismatch("a blob", ty)),
            },
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn write_integer(value: i64, ty: &Type, out: &mut BytesMut) -> std::result::Result<(), BoxError> {
    match *ty {
        Type::INT8 => out.put_i64(value),
        Type::INT4 => out.put_i32(i32::try_from(value)?),
        Type::INT2 => out.put_i16(i16::try_from(value)?),
        Type::BOOL => out.put_u8(u8::from(value != 0)),
        Type::FLOAT8 => out.put_f64(value as f64),
        Type::FLOAT4 => out.put_f32(value as f32),
        Type::OID => out.put_u32(u32::try_from(value)?),
        Type::TEXT | Type::VARCHAR | Type::UNKNOWN => out.put_slice(value.to_string().as_bytes()),
        Type::NUMERIC => write_text_numeric(&value.to_string(), out)?,
        _ => return Err(mismatch("an integer", ty)),
    }
    Ok(())
}

/// NUMERIC's binary form from a decimal number: base-10000 digits around the point.
fn write_text_numeric(text: &str, out: &mut BytesMut) -> std::result::Result<(), BoxError> {
    let negative = text.starts_with('-');
    let text = text.trim_start_matches('-');
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if !whole.bytes().chain(fraction.bytes()).all(|byte| byte.is_ascii_digit()) {
        return Err(format!("{text} is not a decimal number").into());
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    // Pad to whole groups of four digits on both sides of the point.
    let whole_padded = format!("{}{whole}", "0".repeat((4 - whole.len() % 4) % 4));
    let fraction_padded = format!("{fraction}{}", "0".repeat((4 - fraction.len() % 4) % 4));
    let digits: Vec<i16> = whole_padded
        .as_bytes()
        .chunks(4)
        .chain(fraction_padded.as_bytes().chunks(4))
        .map(|group| std::str::from_utf8(group).unwrap_or("0").parse().unwrap_or(0))
        .collect();
    let weight = (whole_padded.len() / 4) as i16 - 1;
    out.put_i16(digits.len() as i16);
    out.put_i16(weight);
    out.put_u16(if negative { 0x4000 } else { 0 });
    out.put_u16(fraction.len() as u16);
    for digit in digits {
        out.put_i16(digit);
    }
    Ok(())
}

fn mismatch(what: &str, ty: &Type) -> BoxError {
    format!("cannot store {what} in a PostgreSQL {ty}").into()
}

/// A column of a row, whatever its type, as the server sent it.
struct Raw<'r> {
    ty: Type,
    bytes: Option<&'r [u8]>,
}

impl<'r> postgres::types::FromSql<'r> for Raw<'r> {
    fn from_sql(ty: &Type, raw: &'r [u8]) -> std::result::Result<Raw<'r>, BoxError> {
        Ok(Raw { ty: ty.clone(), bytes: Some(raw) })
    }

    fn from_sql_null(ty: &Type) -> std::result::Result<Raw<'r>, BoxError> {
        Ok(Raw { ty: ty.clone(), bytes: None })
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Column `index` of `row` as SQLite would give it.
pub fn read<I: ColumnIndex>(row: &postgres::Row, index: I) -> Result<ValueRef<'_>> {
    let raw: Raw<'_> = row.try_get(index)?;
    let Some(bytes) = raw.bytes else { return Ok(ValueRef::Null) };
    let fixed = |width: usize| -> Result<&[u8]> {
        if bytes.len() == width {
            Ok(bytes)
        } else {
            Err(Error::conversion(index, format!("{} of {} bytes", raw.ty, bytes.len())))
        }
    };
    Ok(match raw.ty {
        Type::INT8 => ValueRef::Integer(i64::from_be_bytes(fixed(8)?.try_into().expect("8 bytes"))),
        Type::INT4 => ValueRef::Integer(i32::from_be_bytes(fixed(4)?.try_into().expect("4 bytes")).into()),
        Type::INT2 => ValueRef::Integer(i16::from_be_bytes(fixed(2)?.try_into().expect("2 bytes")).into()),
        Type::OID => ValueRef::Integer(u32::from_be_bytes(fixed(4)?.try_into().expect("4 bytes")).into()),
        Type::BOOL => ValueRef::Integer(i64::from(fixed(1)?[0] != 0)),
        Type::FLOAT8 => ValueRef::Real(f64::from_be_bytes(fixed(8)?.try_into().expect("8 bytes"))),
        Type::FLOAT4 => ValueRef::Real(f32::from_be_bytes(fixed(4)?.try_into().expect("4 bytes")).into()),
        Type::NUMERIC => read_numeric(bytes).ok_or_else(|| Error::conversion(index, "a NUMERIC value that is not a number"))?,
        Type::BYTEA => ValueRef::Blob(bytes),
        Type::JSONB => ValueRef::Text(bytes.get(1..).unwrap_or_default()),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => ValueRef::Text(bytes),
        ref other => return Err(Error::conversion(index, format!("PostgreSQL type {other} has no SQLite counterpart"))),
    })
}

/// NUMERIC (what `sum` and `avg` give) as an integer when it has no fraction.
fn read_numeric(bytes: &[u8]) -> Option<ValueRef<'static>> {
    let word = |at: usize| -> Option<i16> { Some(i16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?)) };
    let count = word(0)? as usize;
    let weight = word(2)?;
    let sign = word(4)? as u16;
    let scale = word(6)?;
    if sign == 0xC000 {
        return Some(ValueRef::Real(f64::NAN));
    }
    let mut value = 0f64;
    for index in 0..count {
        let digit = f64::from(word(8 + 2 * index)?);
        value += digit * 10000f64.powi(i32::from(weight) - index as i32);
    }
    if sign == 0x4000 {
        value = -value;
    }
    Some(if scale == 0 && value.abs() < 9.0e15 { ValueRef::Integer(value as i64) } else { ValueRef::Real(value) })
}

/// A column's number or name, as both databases' rows take it.
pub trait ColumnIndex: rusqlite::RowIndex + postgres::row::RowIndex + std::fmt::Display + Copy {}
impl ColumnIndex for usize {}
impl ColumnIndex for &str {}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(text: &str) -> ValueRef<'static> {
        let mut out = BytesMut::new();
        write_text_numeric(text, &mut out).unwrap();
        read_numeric(&out).unwrap()
    }

    #[test]
    fn numeric_reads_back_what_it_writes() {
        assert_eq!(numeric("0"), ValueRef::Integer(0));
        assert_eq!(numeric("12345678"), ValueRef::Integer(12345678));
        assert_eq!(numeric("-42"), ValueRef::Integer(-42));
        assert_eq!(numeric("2.5"), ValueRef::Real(2.5));
        assert_eq!(numeric("-0.0625"), ValueRef::Real(-0.0625));
    }
}

