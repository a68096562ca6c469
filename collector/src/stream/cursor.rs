//! The stream's position: the last id sent from each feed, written as
//! `e<events>.h<health>.i<incidents>.a<alerts>` — the SSE event id of every item, and
//! what `Last-Event-ID` (or `?since=`) gives back.

/// The last id sent from each feed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub events: i64,
    pub health: i64,
    pub incidents: i64,
    pub alerts: i64,
}

impl Position {
    pub fn encode(&self) -> String {
        format!(
            "e{}.h{}.i{}.a{}",
            self.events, self.health, self.incidents, self.alerts
        )
    }

    /// Parses an id written by [`Position::encode`].
    pub fn decode(s: &str) -> Option<Position> {
        let mut p = Position::default();
        let mut seen = 0;
        for part in s.trim().split('.') {
            let (k, v) = part.split_at_checked(1)?;
            let v: i64 = v.parse().ok().filter(|v: &i64| *v >= 0)?;
            match k {
                "e" => p.events = v,
                "h" => p.health = v,
                "i" => p.incidents = v,
                "a" => p.alerts = v,
                _ => return None,
            }
            seen += 1;
        }
        (seen == 4).then_some(p)
    }

    /// The position after sending an item of `kind` with `id`.
    pub fn after(mut self, kind: &str, id: i64) -> Position {
        let slot = match kind {
            "event" => &mut self.events,
            "health" => &mut self.health,
            "incident" => &mut self.incidents,
            _ => &mut self.alerts,
        };
        *slot = (*slot).max(id);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let p = Position {
            events: 12,
            health: 3,
            incidents: 0,
            alerts: 7,
        };
        assert_eq!(p.encode(), "e12.h3.i0.a7");
        assert_eq!(Position::decode("e12.h3.i0.a7"), Some(p));
        for bad in [
            "",
            "e1.h2.i3",
            "e1.h2.i3.a-4",
            "x1.h2.i3.a4",
            "e1.h2.i3.ax",
            "é1.h2.i3.a4",
        ] {
            assert_eq!(Position::decode(bad), None, "{bad}");
        }
        assert_eq!(p.after("health", 9).health, 9);
        assert_eq!(p.after("event", 5).events, 12, "never moves back");
    }
}
