//! Parsers of the command line's values: phases, `revert --to` targets, schema names and
//! durations.

use std::time::Duration;

use crate::store::StateSchema;
use zdm_plan::Phase;

/// Where `revert --to` goes: a phase, or `pending` (before expand).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RevertTo(pub(super) Option<Phase>);

pub(super) fn parse_phase(text: &str) -> Result<Phase, String> {
    Phase::from_name(text)
        .ok_or_else(|| format!("expected expand, sync, backfill or contract, found `{text}`"))
}

pub(super) fn parse_revert_to(text: &str) -> Result<RevertTo, String> {
    if text == "pending" {
        return Ok(RevertTo(None));
    }
    parse_phase(text).map(|phase| RevertTo(Some(phase)))
}

/// A schema name PostgreSQL keeps as given; refused as a usage error here rather than at
/// connect.
pub(super) fn parse_schema(text: &str) -> Result<String, String> {
    StateSchema::new(text)
        .map(|_| text.to_owned())
        .map_err(|error| error.to_string())
}

/// `250ms`, `1s`, `2m`, `1h`; a bare number is seconds.
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("expected a duration such as 500ms or 2s, found `{text}`"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown duration unit `{other}`; use ms, s, m or h")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_common_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("1 fortnight")
            .unwrap_err()
            .contains("unknown duration unit"));
        assert!(parse_duration("soon")
            .unwrap_err()
            .contains("expected a duration"));
    }
}
