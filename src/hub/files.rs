//! File transfers: offers, answers, routing data frames with their size checks, expiry.

use super::*;

impl Hub {
    pub(super) fn offer(
        &mut self,
        id: ClientId,
        to: &str,
        size: u64,
        name: &str,
        now: Instant,
        sink: &mut impl Sink,
    ) {
        let Some(me) = self.users.get(id).and_then(Option::as_ref) else {
            return;
        };
        if size > self.cfg.max_file_size {
            let f = Fail::FileTooLarge {
                size,
                max: self.cfg.max_file_size,
            };
            return sink.one(id, &me.nick, &Event::Fail(f));
        }
        let Some(&to_id) = self.by_nick.get(&*Key::new(to)) else {
            return sink.one(id, &me.nick, &Event::Fail(Fail::NoSuchNick(to)));
        };
        let Some(recipient) = self.users.get(to_id).and_then(Option::as_ref) else {
            return;
        };
        if !recipient.files {
            return sink.one(
                id,
                &me.nick,
                &Event::Fail(Fail::CannotReceiveFiles(&recipient.nick)),
            );
        }
        // Numbered only once the offer stands, so ids have no gaps.
        let tid = self.next_transfer;
        self.next_transfer += 1;
        self.transfers.insert(
            tid,
            Transfer {
                from: id,
                to: to_id,
                size,
                sent: 0,
                accepted: false,
            },
        );
        self.offers.push_back((now + self.cfg.offer_timeout, tid));
        let offered = FileEvent::Offered {
            id: tid,
            to: &recipient.nick,
            size,
            name,
        };
        sink.one(id, &me.nick, &Event::File(offered));
        let offer = FileEvent::Offer {
            id: tid,
            from: &me.nick,
            size,
            name,
        };
        sink.one(to_id, &recipient.nick, &Event::File(offer));
    }

    /// Tells both ends of a transfer.
    pub(super) fn tell_both(&self, t: &Transfer, ev: FileEvent<'_>, sink: &mut impl Sink) {
        for end in [t.from, t.to] {
            if let Some(u) = self.user(end) {
                sink.one(end, &u.nick, &Event::File(ev));
            }
        }
    }

    pub(super) fn answer_offer(
        &mut self,
        id: ClientId,
        tid: u64,
        accept: bool,
        sink: &mut impl Sink,
    ) {
        let nick = self.nick(id).unwrap_or("");
        let Some(t) = self
            .transfers
            .get(&tid)
            .filter(|t| t.to == id && !t.accepted)
        else {
            return sink.one(id, nick, &Event::Fail(Fail::NoSuchTransfer(tid)));
        };
        if !accept {
            self.tell_both(t, FileEvent::Declined(tid), sink);
            self.transfers.remove(&tid);
            return;
        }
        self.tell_both(t, FileEvent::Accepted(tid), sink);
        if t.size == 0 {
            self.tell_both(t, FileEvent::Done(tid), sink);
            self.transfers.remove(&tid);
        } else if let Some(t) = self.transfers.get_mut(&tid) {
            t.accepted = true;
        }
    }

    pub(super) fn cancel(&mut self, id: ClientId, tid: u64, sink: &mut impl Sink) {
        let nick = self.nick(id).unwrap_or("");
        match self
            .transfers
            .get(&tid)
            .filter(|t| t.from == id || t.to == id)
        {
            Some(t) => {
                self.tell_both(
                    t,
                    FileEvent::Abort {
                        id: tid,
                        reason: AbortReason::CancelledBy(nick),
                    },
                    sink,
                );
                self.transfers.remove(&tid);
            }
            None => sink.one(id, nick, &Event::Fail(Fail::NoSuchTransfer(tid))),
        }
    }

    pub(super) fn abort_transfers_of(
        &mut self,
        id: ClientId,
        reason: AbortReason<'_>,
        sink: &mut impl Sink,
    ) {
        let mine: Vec<u64> = self
            .transfers
            .iter()
            .filter(|(_, t)| t.from == id || t.to == id)
            .map(|(&k, _)| k)
            .collect();
        for tid in mine {
            if let Some(t) = self.transfers.remove(&tid) {
                self.tell_both(&t, FileEvent::Abort { id: tid, reason }, sink);
            }
        }
    }

    /// Aborts every transfer (server shutdown).
    pub fn abort_all_transfers(&mut self, sink: &mut impl Sink) {
        let all: Vec<u64> = self.transfers.keys().copied().collect();
        for tid in all {
            if let Some(t) = self.transfers.remove(&tid) {
                self.tell_both(
                    &t,
                    FileEvent::Abort {
                        id: tid,
                        reason: AbortReason::ShuttingDown,
                    },
                    sink,
                );
            }
        }
    }

    /// Where a data frame of `len` bytes from `id` for transfer `tid` goes. A frame that would
    /// pass the offered size aborts the transfer.
    pub fn route_data(&mut self, id: ClientId, tid: u64, len: u64, sink: &mut impl Sink) -> Route {
        match self.transfers.get(&tid) {
            Some(t) if t.from == id && t.accepted => {
                if t.sent + len > t.size {
                    self.tell_both(
                        t,
                        FileEvent::Abort {
                            id: tid,
                            reason: AbortReason::TooMuchData,
                        },
                        sink,
                    );
                    self.transfers.remove(&tid);
                    return Route::Refused("more bytes than offered; the transfer is aborted");
                }
                Route::To(t.to)
            }
            Some(t) if t.from == id => Route::Refused("the transfer is not accepted yet"),
            _ => Route::Refused("no such transfer of yours"),
        }
    }

    /// Whether a transfer is still going (it may have been cancelled mid-frame).
    pub fn transfer_active(&self, tid: u64) -> bool {
        self.transfers.contains_key(&tid)
    }

    /// Counts `len` bytes forwarded; tells both ends when the file is complete.
    pub fn data_forwarded(&mut self, tid: u64, len: u64, sink: &mut impl Sink) {
        let Some(t) = self.transfers.get_mut(&tid) else {
            return;
        };
        t.sent += len;
        if t.sent == t.size {
            if let Some(t) = self.transfers.remove(&tid) {
                self.tell_both(&t, FileEvent::Done(tid), sink);
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.offers.front().map(|&(at, _)| at)
    }

    /// Expires unanswered offers whose time has come.
    pub fn expire(&mut self, now: Instant, sink: &mut impl Sink) {
        while let Some(&(at, tid)) = self.offers.front() {
            if at > now {
                break;
            }
            self.offers.pop_front();
            if let Some(t) = self.transfers.get(&tid).filter(|t| !t.accepted) {
                self.tell_both(t, FileEvent::Expired(tid), sink);
                self.transfers.remove(&tid);
            }
        }
    }
}
