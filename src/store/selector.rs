//! A CHATHISTORY selector answered from two primitives a backend provides: where an anchor
//! falls, and one page of lines between two bounds. Both backends answer every selector this
//! way, so LATEST, BEFORE, AFTER, AROUND and BETWEEN mean the same whatever stores the lines.

use super::types::*;

/// No query returns more rows than this, whatever limit it asks (the loop should advertise
/// less in `CHATHISTORY=`).
pub const MAX_QUERY_ROWS: usize = 1000;

/// A line's place in its conversation: (time in ms, a sequence within the backend).
pub type Pos = (i64, i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Oldest first from the lower bound.
    Up,
    /// Newest first from the upper bound (reversed before returning).
    Down,
}

/// What a backend gives [`select`] for one conversation.
pub trait Pages {
    type Error;
    /// The two exclusive bounds of an anchor (upper for "before", lower for "after"), or
    /// `None` for a msgid the conversation does not hold.
    fn bounds(&mut self, anchor: &Anchor) -> Result<Option<(Pos, Pos)>, Self::Error>;
    /// Lines strictly inside (lo, hi) (`lo_inclusive`: `>=` at the bottom), `limit` of them
    /// counted from the bottom (`Up`) or the top (`Down`), oldest first.
    fn page(
        &mut self,
        lo: Option<Pos>,
        lo_inclusive: bool,
        hi: Option<Pos>,
        dir: Dir,
        limit: usize,
    ) -> Result<Vec<HistoryMessage>, Self::Error>;
}

/// The lines `selector` picks, at most `n`; an unknown msgid anchor is an answer, not an error.
pub fn select<P: Pages>(
    pages: &mut P,
    selector: &Selector,
    n: usize,
) -> Result<Result<Vec<HistoryMessage>, HistoryError>, P::Error> {
    macro_rules! resolve {
        ($a:expr) => {
            match pages.bounds($a)? {
                Some(b) => b,
                None => {
                    let Anchor::MsgId(id) = $a else {
                        unreachable!("a time anchor always has bounds")
                    };
                    return Ok(Err(HistoryError::UnknownMsgId(id.clone())));
                }
            }
        };
    }
    let rows = match selector {
        Selector::Latest(None) => pages.page(None, false, None, Dir::Down, n)?,
        Selector::Latest(Some(a)) => {
            let (_, lo) = resolve!(a);
            pages.page(Some(lo), false, None, Dir::Down, n)?
        }
        Selector::Before(a) => {
            let (hi, _) = resolve!(a);
            pages.page(None, false, Some(hi), Dir::Down, n)?
        }
        Selector::After(a) => {
            let (_, lo) = resolve!(a);
            pages.page(Some(lo), false, None, Dir::Up, n)?
        }
        Selector::Around(a) => {
            // Half before, the rest from the anchor on; a side with fewer lines leaves its
            // share to the other.
            let (hi, _) = resolve!(a);
            let n = n.min(MAX_QUERY_ROWS);
            let mut before = pages.page(None, false, Some(hi), Dir::Down, n)?;
            let mut after = pages.page(Some(hi), true, None, Dir::Up, n)?;
            let mut take_before = before.len().min(n / 2);
            let take_after = after.len().min(n - take_before);
            take_before = before.len().min(n - take_after);
            before.drain(..before.len() - take_before);
            after.truncate(take_after);
            before.extend(after);
            before
        }
        Selector::Between(a, b) => {
            let (a_hi, a_lo) = resolve!(a);
            let (b_hi, b_lo) = resolve!(b);
            if a_hi <= b_hi {
                pages.page(Some(a_lo), false, Some(b_hi), Dir::Up, n)?
            } else {
                pages.page(Some(b_lo), false, Some(a_hi), Dir::Down, n)?
            }
        }
    };
    Ok(Ok(rows))
}
