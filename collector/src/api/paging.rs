//! The conventions every list endpoint follows: `limit` (checked against a maximum),
//! opaque `cursor` → `next_cursor`, and time bounds as RFC 3339 or epoch milliseconds.

use super::error::ApiError;

/// Page size when a request names none.
pub const DEFAULT_LIMIT: u32 = 100;

/// `limit` or the default, refused if 0 or above `max`.
pub fn limit(requested: Option<u32>, max: u32) -> Result<u32, ApiError> {
    let l = requested.unwrap_or(DEFAULT_LIMIT.min(max));
    if l == 0 || l > max {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {max}"
        )));
    }
    Ok(l)
}

/// A cursor for newest-first paging by id: the last id served.
pub fn encode_id_cursor(id: i64) -> String {
    format!("i{id}")
}

/// Parses a cursor made by [`encode_id_cursor`].
pub fn decode_id_cursor(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(c) = cursor else { return Ok(None) };
    c.strip_prefix('i')
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .map(Some)
        .ok_or_else(|| ApiError::BadRequest("bad cursor: pass back a next_cursor".to_owned()))
}

/// The next cursor of a newest-first page: the last id if the page was full.
pub fn next_id_cursor(
    ids: impl DoubleEndedIterator<Item = i64>,
    len: usize,
    limit: u32,
) -> Option<String> {
    if len < limit as usize {
        return None;
    }
    ids.last().map(encode_id_cursor)
}

/// A time bound: RFC 3339 (`2026-11-28T10:00:00Z`) or epoch milliseconds.
pub fn time_ms(param: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(Some(ms));
    }
    let parsed = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "{param} must be RFC 3339 (2026-11-28T10:00:00Z) or epoch milliseconds"
            ))
        })?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000)
        .map(Some)
        .map_err(|_| ApiError::BadRequest(format!("{param} is out of range")))
}

/// Checks `from < to` when both are given.
pub fn range(from: Option<i64>, to: Option<i64>) -> Result<(), ApiError> {
    match (from, to) {
        (Some(f), Some(t)) if f >= t => Err(ApiError::BadRequest(
            "from must be earlier than to".to_owned(),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_both_ways() {
        assert_eq!(
            time_ms("from", Some("1700000000000")).unwrap(),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            time_ms("from", Some("2023-11-14T22:13:20Z")).unwrap(),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            time_ms("from", Some("2023-11-14T23:13:20+01:00")).unwrap(),
            Some(1_700_000_000_000)
        );
        assert_eq!(time_ms("from", None).unwrap(), None);
        assert!(time_ms("from", Some("yesterday")).is_err());
        assert!(range(Some(2), Some(1)).is_err());
    }

    #[test]
    fn limits_and_cursors() {
        assert_eq!(limit(None, 1000).unwrap(), DEFAULT_LIMIT);
        assert!(limit(Some(0), 1000).is_err());
        assert!(limit(Some(1001), 1000).is_err());
        assert_eq!(
            decode_id_cursor(Some(&encode_id_cursor(42))).unwrap(),
            Some(42)
        );
        assert!(decode_id_cursor(Some("x")).is_err());
        assert!(decode_id_cursor(Some("i-1")).is_err());
        assert_eq!(
            next_id_cursor([5, 4].into_iter(), 2, 2),
            Some("i4".to_owned())
        );
        assert_eq!(next_id_cursor([5].into_iter(), 1, 2), None);
    }
}
