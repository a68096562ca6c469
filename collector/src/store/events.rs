//! Event rows (warn and worse) as the API searches them, and the raw lines around one
//! event, read back from the archive.
//!
//! Searches are newest first by id (ids grow in arrival order), so a cursor is the last
//! id seen and a page never shifts when new events arrive.

use fleetlog_protocol::Level;
use sqlx::Row;

use super::audit::{Bind, escape_like};
use super::{LineRecord, SegmentRow, Store, StoreError};

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub id: i64,
    pub host: String,
    pub service: Option<String>,
    pub source: String,
    pub ts_ms: i64,
    pub level: Level,
    pub score: f64,
    pub class: Option<String>,
    pub template_id: Option<i64>,
    pub line: String,
    /// `None` once retention deleted the segment holding the raw line.
    pub segment_id: Option<i64>,
    pub line_no: i64,
    /// Lines this event stands for: `line` is the first of them (see `store::grouping`).
    pub occurrences: i64,
    /// The time of the last of them.
    pub last_ts_ms: i64,
    /// When the line says it was logged (its own timestamp, from a v4 agent); `ts_ms` is
    /// when the agent read it.
    pub logged_ms: Option<i64>,
}

/// Filters for [`Store::events`]; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub host: Option<String>,
    pub service: Option<String>,
    /// Only events at this level or worse.
    pub min_level: Option<Level>,
    pub class: Option<String>,
    pub template_id: Option<i64>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Case-insensitive substring of the line.
    pub text: Option<String>,
    /// Only ids below this (the cursor).
    pub before_id: Option<i64>,
}

/// An event with the raw lines of the same source around it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventContext {
    pub event: EventRecord,
    pub before: Vec<LineRecord>,
    pub after: Vec<LineRecord>,
    /// False if the raw lines are gone (retention deleted the segment).
    pub archived: bool,
}

const EVENT_COLUMNS: &str = "id, host, service, source, ts_ms, level, score, class, template_id, line, segment_id, line_no, \
     occurrences, last_ts_ms, logged_ms";

fn event_from(row: &sqlx::any::AnyRow) -> Result<EventRecord, StoreError> {
    let level: String = row.try_get(5)?;
    let ts_ms: i64 = row.try_get(4)?;
    Ok(EventRecord {
        id: row.try_get(0)?,
        host: row.try_get(1)?,
        service: row.try_get(2)?,
        source: row.try_get(3)?,
        ts_ms,
        level: Level::parse(&level).unwrap_or(Level::Warn),
        score: row.try_get(6)?,
        class: row.try_get(7)?,
        template_id: row.try_get(8)?,
        line: row.try_get(9)?,
        segment_id: row.try_get(10)?,
        line_no: row.try_get(11)?,
        occurrences: row.try_get(12)?,
        last_ts_ms: row.try_get::<Option<i64>, _>(13)?.unwrap_or(ts_ms),
        logged_ms: row.try_get(14)?,
    })
}

/// The levels at or above `min`, as stored.
fn levels_from(min: Level) -> Vec<&'static str> {
    [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Critical,
    ]
    .into_iter()
    .filter(|l| *l >= min)
    .map(Level::as_str)
    .collect()
}

/// The service a source belongs to: for a Kubernetes pod log
/// (`/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log`) the container, else the file
/// name without rotation suffixes (`.1`, `.gz`, `-20261128`) and extensions (`.log`).
pub fn service_of(source: &str) -> String {
    let parts: Vec<&str> = source.split('/').filter(|p| !p.is_empty()).collect();
    if let Some(i) = parts.iter().position(|p| *p == "pods")
        && parts.len() >= i + 4
    {
        return parts[i + 2].to_owned();
    }
    let name = parts.last().copied().unwrap_or(source);
    let mut stem = name;
    while let Some((head, tail)) = stem.rsplit_once(['.', '-']) {
        let rotation = !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit());
        let ext = matches!(
            tail,
            "log" | "txt" | "json" | "jsonl" | "out" | "err" | "gz" | "zst" | "bz2" | "xz"
        );
        if head.is_empty() || !(rotation || ext) {
            break;
        }
        stem = head;
    }
    stem.to_owned()
}

/// One error pattern (fingerprint) in a window.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternCount {
    pub fingerprint: String,
    pub sample: String,
    pub count: i64,
    pub hosts: i64,
    pub class: Option<String>,
    pub service: Option<String>,
    pub worst: Level,
    pub last_ts_ms: i64,
}

impl Store {
    /// The most frequent fingerprints of events in `[from, to)` (line time).
    pub async fn pattern_counts(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<PatternCount>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT fingerprint, MIN(line), CAST(SUM(occurrences) AS BIGINT) AS n, \
             CAST(COUNT(DISTINCT host) AS BIGINT), MAX(class), MAX(service), \
             CAST(MAX(CASE level WHEN 'critical' THEN 3 WHEN 'error' THEN 2 ELSE 1 END) AS BIGINT), \
             CAST(MAX(COALESCE(last_ts_ms, ts_ms)) AS BIGINT) \
             FROM events WHERE ts_ms >= $1 AND ts_ms < $2 AND fingerprint IS NOT NULL \
             GROUP BY fingerprint ORDER BY n DESC, fingerprint LIMIT {}",
            limit.max(1)
        ))
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PatternCount {
                    fingerprint: r.try_get(0)?,
                    sample: r.try_get(1)?,
                    count: r.try_get(2)?,
                    hosts: r.try_get(3)?,
                    class: r.try_get(4)?,
                    service: r.try_get(5)?,
                    worst: match r.try_get::<i64, _>(6)? {
                        3 => Level::Critical,
                        2 => Level::Error,
                        _ => Level::Warn,
                    },
                    last_ts_ms: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// Event counts of these fingerprints in `[from, to)`.
    pub async fn fingerprint_counts(
        &self,
        fingerprints: &[String],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for chunk in fingerprints.chunks(100) {
            let placeholders: Vec<String> = (3..chunk.len() + 3).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT fingerprint, CAST(SUM(occurrences) AS BIGINT) FROM events \
                 WHERE ts_ms >= $1 AND ts_ms < $2 AND fingerprint IN ({}) GROUP BY fingerprint",
                placeholders.join(", ")
            );
            let mut q = sqlx::query_as::<_, (String, i64)>(&sql)
                .bind(from_ms)
                .bind(to_ms);
            for f in chunk {
                q = q.bind(f);
            }
            out.extend(q.fetch_all(&self.pool).await?);
        }
        Ok(out)
    }

    /// Events since `since_ms` (by line time), per level, for one host or the fleet.
    pub async fn event_counts_by_level(
        &self,
        host: Option<&str>,
        since_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.grouped_counts("level", host, since_ms, 16).await
    }

    /// The most frequent error classes since `since_ms`, for one host or the fleet.
    pub async fn event_counts_by_class(
        &self,
        host: Option<&str>,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.grouped_counts("class", host, since_ms, limit).await
    }

    async fn grouped_counts(
        &self,
        column: &'static str,
        host: Option<&str>,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let host_clause = if host.is_some() { " AND host = $2" } else { "" };
        let sql = format!(
            "SELECT {column}, CAST(SUM(occurrences) AS BIGINT) AS n FROM events \
             WHERE ts_ms >= $1 AND {column} IS NOT NULL{host_clause} \
             GROUP BY {column} ORDER BY n DESC, {column} LIMIT {limit}"
        );
        let mut query = sqlx::query_as::<_, (String, i64)>(&sql).bind(since_ms);
        if let Some(h) = host {
            query = query.bind(h.to_owned());
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Events matching `filter`, newest first, at most `limit`.
    pub async fn events(
        &self,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1");
        let mut binds: Vec<Bind> = Vec::new();
        let mut push = |sql: &mut String, clause: &str, b: Bind| {
            binds.push(b);
            sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
        };
        if let Some(v) = &filter.host {
            push(&mut sql, " AND host = ?", Bind::Text(v.clone()));
        }
        if let Some(v) = &filter.service {
            push(&mut sql, " AND service = ?", Bind::Text(v.clone()));
        }
        if let Some(min) = filter.min_level
            && min > Level::Warn
        {
            let levels = levels_from(min);
            sql.push_str(" AND level IN (");
            for (i, l) in levels.into_iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                push(&mut sql, "?", Bind::Text(l.to_owned()));
            }
            sql.push(')');
        }
        if let Some(v) = &filter.class {
            push(&mut sql, " AND class = ?", Bind::Text(v.clone()));
        }
        if let Some(v) = filter.template_id {
            push(&mut sql, " AND template_id = ?", Bind::Int(v));
        }
        if let Some(v) = filter.from_ms {
            push(&mut sql, " AND ts_ms >= ?", Bind::Int(v));
        }
        if let Some(v) = filter.to_ms {
            push(&mut sql, " AND ts_ms < ?", Bind::Int(v));
        }
        if let Some(v) = &filter.text {
            push(
                &mut sql,
                " AND LOWER(line) LIKE ? ESCAPE '\\'",
                Bind::Text(format!("%{}%", escape_like(&v.to_lowercase()))),
            );
        }
        if let Some(v) = filter.before_id {
            push(&mut sql, " AND id < ?", Bind::Int(v));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit.max(1)));
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = match b {
                Bind::Text(s) => query.bind(s),
                Bind::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(event_from).collect()
    }

    /// Event `id` with up to `n` raw lines of the same source before and after it, from
    /// its segment and, where that runs out, the host's neighbouring segment each way.
    pub async fn event_context(
        &self,
        id: i64,
        n: usize,
    ) -> Result<Option<EventContext>, StoreError> {
        let row = sqlx::query(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let event = event_from(&row)?;
        let mut ctx = EventContext {
            event,
            before: Vec::new(),
            after: Vec::new(),
            archived: false,
        };
        let Some(segment_id) = ctx.event.segment_id else {
            return Ok(Some(ctx));
        };
        let Some(seg) = self.segment_row("id = $1", segment_id).await? else {
            return Ok(Some(ctx));
        };
        let Some(lines) = self.segment_lines(&seg, &ctx.event.source).await? else {
            return Ok(Some(ctx));
        };
        ctx.archived = true;
        let at = ctx.event.line_no;
        ctx.before = lines
            .iter()
            .filter(|l| i64::from(l.line_no) < at)
            .cloned()
            .collect();
        ctx.after = lines
            .iter()
            .filter(|l| i64::from(l.line_no) > at)
            .cloned()
            .collect();
        if ctx.before.len() < n
            && let Some(prev) = self
                .neighbour_segment(&ctx.event.host, segment_id, false)
                .await?
            && let Some(mut lines) = self.segment_lines(&prev, &ctx.event.source).await?
        {
            lines.append(&mut ctx.before);
            ctx.before = lines;
        }
        if ctx.after.len() < n
            && let Some(next) = self
                .neighbour_segment(&ctx.event.host, segment_id, true)
                .await?
            && let Some(lines) = self.segment_lines(&next, &ctx.event.source).await?
        {
            ctx.after.extend(lines);
        }
        let skip = ctx.before.len().saturating_sub(n);
        ctx.before.drain(..skip);
        ctx.after.truncate(n);
        Ok(Some(ctx))
    }

    async fn segment_row(&self, cond: &str, bind: i64) -> Result<Option<SegmentRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT id, seq, path, raw_len, line_count FROM segments WHERE {cond}"
        ))
        .bind(bind)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(SegmentRow::from_row).transpose()?)
    }

    async fn neighbour_segment(
        &self,
        host: &str,
        id: i64,
        next: bool,
    ) -> Result<Option<SegmentRow>, StoreError> {
        let sql = if next {
            "SELECT id, seq, path, raw_len, line_count FROM segments \
             WHERE host = $1 AND id > $2 ORDER BY id LIMIT 1"
        } else {
            "SELECT id, seq, path, raw_len, line_count FROM segments \
             WHERE host = $1 AND id < $2 ORDER BY id DESC LIMIT 1"
        };
        let row = sqlx::query(sql)
            .bind(host)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(SegmentRow::from_row).transpose()?)
    }

    /// The lines of `source` in one segment, in order; `None` if the segment is gone.
    async fn segment_lines(
        &self,
        seg: &SegmentRow,
        source: &str,
    ) -> Result<Option<Vec<LineRecord>>, StoreError> {
        let Some(payload) = self.load_segment(seg).await? else {
            return Ok(None);
        };
        let Some(src) = payload.sources.iter().position(|s| s == source) else {
            return Ok(Some(Vec::new()));
        };
        let seq = u64::try_from(seg.seq).unwrap_or(0);
        Ok(Some(
            (0u32..)
                .zip(payload.entries)
                .filter(|(_, e)| e.source as usize == src)
                .map(|(line_no, e)| LineRecord {
                    segment_id: seg.id,
                    seq,
                    line_no,
                    ts_ms: e.ts_ms,
                    source: source.to_owned(),
                    line: e.line,
                    level: e.level,
                    score: e.score,
                })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_from_sources() {
        for (source, service) in [
            ("/var/log/pos/payment.log", "payment"),
            ("/var/log/pos/payment.log.1", "payment"),
            ("/var/log/pos/payment.log.2.gz", "payment"),
            ("/var/log/pos/payment.log-20261128", "payment"),
            ("/var/log/syslog", "syslog"),
            ("/var/log/kiosk-ui.json", "kiosk-ui"),
            ("/var/log/pods/shop_checkout-7d9_0a1b/api/0.log", "api"),
            ("app.log", "app"),
            ("/var/log/.log", ".log"),
            ("", ""),
        ] {
            assert_eq!(service_of(source), service, "{source}");
        }
    }

    #[test]
    fn level_floors() {
        assert_eq!(levels_from(Level::Error), ["error", "critical"]);
    }
}
