//! The rules of office hours, as one pure reducer per course (`office_hours.queue`).
//!
//! It reads the office-hours events (source [`SOURCE`]) and the roster events of its course,
//! and keeps the course's [`QueueState`]. Who may do what comes from the roster as of that
//! point in the log ([`member_role`]): students join, cancel and accept; TAs and teachers go on
//! and off duty, call the next student, end sessions and announce; teachers (and the server)
//! change settings; only the timer service expires offers. Every effect is an output: the
//! offer's expiry is a [`TimerRequest`] at offer time + window (cancelled when accepted,
//! withdrawn or declined — and an expiry for an offer that is no longer outstanding does
//! nothing), and whoever is affected is told with a [`Recipient::Student`] notification carrying
//! their new status. Time is the event's server time only, so replaying the log gives the same
//! queue and the same decisions (an accept one microsecond late is refused, live and on replay).

use crate::config::{CourseSettings, Effective, ExpiredOffer, OfficeHoursConfig, OnClose};
use crate::state::{
    Announcement, Duty, Expired, LineView, Offer, Place, QueueState, RECENT_EXPIRED,
    RECENT_REPLIES, RECENT_SERVICE, Reply, Session, Waiting,
};
use classpulse_core::event::{Event, Timestamp};
use classpulse_core::reducer::{Effect, Outcome, Recipient, Reducer, Scope, TimerRequest};
use classpulse_core::roster::{Access, ROSTER_SOURCE, Role, RosterEvent, member_role};
use serde_json::{Value, json};
use std::sync::Arc;

/// The source of every office-hours event.
pub const SOURCE: &str = "org.classpulse.office_hours";
/// The reducer's name (its states: `office_hours.queue` / `course:<id>`).
pub const QUEUE_REDUCER: &str = "office_hours.queue";
/// The `status` of every notification this module sends.
pub const STATUS: &str = "office_hours";
/// Longest location text, in characters.
pub const MAX_LOCATION_CHARS: usize = 100;
/// Longest announcement, in characters.
pub const MAX_ANNOUNCEMENT_CHARS: usize = 500;

/// The timer id of offer `offer` in `course`.
pub fn offer_timer_id(course: &str, offer: u64) -> String {
    format!("office_hours.offer.{course}.{offer}")
}

/// The office-hours reducer.
#[derive(Debug, Clone)]
pub struct QueueReducer {
    config: Arc<OfficeHoursConfig>,
}

impl QueueReducer {
    /// A reducer with these installation settings.
    pub fn new(config: Arc<OfficeHoursConfig>) -> Self {
        QueueReducer { config }
    }
}

/// Who sent a command, as far as the rules care.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Actor {
    Student(String),
    Staff { id: String, role: Role },
    System,
    Timer,
    Nobody,
}

fn actor(event: &Event<'_>) -> Actor {
    match member_role(event) {
        Some(Access::Member(Role::Student)) => Actor::Student(event.safe_user_id().to_owned()),
        Some(Access::Member(role)) => Actor::Staff {
            id: event.safe_user_id().to_owned(),
            role,
        },
        Some(Access::System) => Actor::System,
        Some(Access::Timer) => Actor::Timer,
        // Outside the router (unit tests of other code) nothing is authorized.
        None => Actor::Nobody,
    }
}

/// One event's work: the state, the event's time, and what to tell whom.
struct Step<'s> {
    state: &'s mut QueueState,
    now: Timestamp,
    settings: Effective,
    max_question: usize,
    effects: Vec<Effect>,
    /// Students told explicitly (they get no separate position update).
    told: Vec<String>,
    /// Students whose explicit message waits for the final status.
    to_students: Vec<(String, &'static str, String)>,
    to_tas: Vec<(String, &'static str, String)>,
}

type Result<T = String> = std::result::Result<T, String>;

impl Step<'_> {
    fn tell(&mut self, student: &str, what: &'static str, message: impl Into<String>) {
        self.to_students
            .push((student.to_owned(), what, message.into()));
        self.told.push(student.to_owned());
    }

    fn tell_ta(&mut self, ta: &str, what: &'static str, message: impl Into<String>) {
        self.to_tas.push((ta.to_owned(), what, message.into()));
    }

    fn course(&self) -> String {
        self.state.course_id.clone()
    }

    fn window_text(&self) -> String {
        let secs = self.settings.offer_window_secs;
        if secs.is_multiple_of(60) {
            let m = secs / 60;
            format!("{m} minute{}", if m == 1 { "" } else { "s" })
        } else {
            format!("{secs} seconds")
        }
    }

    /// Offers the head of the line to `ta` (who is on duty and free); when nobody waits, the
    /// TA waits for the next student to join.
    fn call_for(&mut self, ta: &str) -> String {
        if self.state.line.is_empty() {
            if let Some(d) = self.state.on_duty.get_mut(ta) {
                d.waiting = true;
            }
            return "Nobody is waiting: the next student who joins is called for you.".into();
        }
        let entry = self.state.line.remove(0);
        if let Some(d) = self.state.on_duty.get_mut(ta) {
            d.waiting = false;
        }
        self.state.last_offer += 1;
        let id = self.state.last_offer;
        let window = std::time::Duration::from_secs(self.settings.offer_window_secs);
        let deadline = self.now.plus(window);
        let course = self.course();
        self.effects.push(Effect::Timer(TimerRequest {
            id: offer_timer_id(&course, id),
            at: deadline,
            event: json!({
                "event": "offer_expired", "source": SOURCE, "course_id": course, "offer": id,
            }),
        }));
        let student = entry.student.clone();
        self.state.offers.insert(
            ta.to_owned(),
            Offer {
                id,
                entry,
                ta: ta.to_owned(),
                offered: self.now,
                deadline,
            },
        );
        self.state.stats.offers += 1;
        let window = self.window_text();
        self.tell(
            &student,
            "offer",
            format!(
                "{} is ready for you: accept within {window}.",
                self.state.staff_name(ta)
            ),
        );
        format!("{student} was called and has {window} to accept.")
    }

    /// A TA who waits for a student gets the one who just joined.
    fn serve_waiting_ta(&mut self) {
        let waiting = self
            .state
            .on_duty
            .iter()
            .find(|(ta, d)| {
                d.waiting
                    && !self.state.offers.contains_key(*ta)
                    && !self.state.sessions.contains_key(*ta)
            })
            .map(|(ta, _)| ta.clone());
        if let Some(ta) = waiting {
            let message = self.call_for(&ta);
            self.tell_ta(&ta, "offer", message);
        }
    }

    /// Withdraws `ta`'s outstanding offer; the student goes back to the front of the line
    /// when `requeue`.
    fn withdraw_offer(&mut self, ta: &str, requeue: bool) -> Option<Offer> {
        let offer = self.state.offers.remove(ta)?;
        self.effects.push(Effect::CancelTimer {
            id: offer_timer_id(&self.state.course_id, offer.id),
        });
        if requeue {
            self.state.line.insert(0, offer.entry.clone());
        }
        Some(offer)
    }

    /// Ends `ta`'s session, counting it.
    fn end_session(&mut self, ta: &str) -> Option<Session> {
        let session = self.state.sessions.remove(ta)?;
        let length = self.now.since(session.started).as_micros() as i64;
        let stats = &mut self.state.stats;
        stats.sessions_ended += 1;
        stats.total_session_us += length;
        stats.max_session_us = stats.max_session_us.max(length);
        self.state.recent_service_us.push_back(length);
        while self.state.recent_service_us.len() > RECENT_SERVICE {
            self.state.recent_service_us.pop_front();
        }
        Some(session)
    }

    fn staff(actor: &Actor, what: &str) -> Result<String> {
        match actor {
            Actor::Staff { id, .. } => Ok(id.clone()),
            Actor::Student(_) => Err(format!("only the course's TAs and teachers can {what}")),
            _ => Err(format!("{what}: no staff member named")),
        }
    }

    fn student(actor: &Actor, what: &str) -> Result<String> {
        match actor {
            Actor::Student(id) => Ok(id.clone()),
            _ => Err(format!("only the course's students can {what}")),
        }
    }

    /// The TA a duty event is about: the sender, or (from the server: the timetable, an
    /// administrator) the event's `ta` field.
    fn duty_ta(actor: &Actor, event: &Event<'_>) -> Result<String> {
        match actor {
            Actor::Staff { id, .. } => Ok(id.clone()),
            Actor::System | Actor::Timer => event
                .str_field("ta")
                .map(|t| t.into_owned())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| "a duty event from the server needs a \"ta\"".into()),
            Actor::Student(_) => Err("only the course's TAs and teachers go on duty".into()),
            Actor::Nobody => Err("not authorized".into()),
        }
    }

    fn join(&mut self, actor: &Actor, event: &Event<'_>) -> Result {
        let student = Self::student(actor, "join the line")?;
        match self.state.place(&student) {
            Some(Place::Line(i)) => {
                return Err(format!("You are already in line, at position {}.", i + 1));
            }
            Some(Place::Offered(ta)) => {
                return Err(format!(
                    "{} has already called you: accept the offer or cancel it.",
                    self.state.staff_name(ta)
                ));
            }
            Some(Place::Session(ta)) => {
                return Err(format!(
                    "You are in a session with {}.",
                    self.state.staff_name(ta)
                ));
            }
            None => {}
        }
        let question = event
            .str_field("question")
            .map(|q| q.trim().to_owned())
            .unwrap_or_default();
        if question.chars().count() > self.max_question {
            return Err(format!(
                "Your question is longer than {} characters; shorten it.",
                self.max_question
            ));
        }
        let location = event
            .str_field("location")
            .map(|q| q.trim().to_owned())
            .unwrap_or_default();
        if location.chars().count() > MAX_LOCATION_CHARS {
            return Err(format!(
                "The location is longer than {MAX_LOCATION_CHARS} characters."
            ));
        }
        self.state.line.push(Waiting {
            student: student.clone(),
            question,
            location,
            joined: self.now,
            expired: 0,
        });
        self.state.stats.joins += 1;
        let position = self.state.line.len();
        let message = if self.state.is_open() {
            format!("You joined the line at position {position}.")
        } else {
            format!(
                "You joined the line at position {position}. Office hours are closed now; you keep your place until a TA opens them."
            )
        };
        self.tell(&student, "joined", message.clone());
        self.serve_waiting_ta();
        Ok(message)
    }

    fn cancel(&mut self, actor: &Actor) -> Result {
        let student = Self::student(actor, "leave the line")?;
        match self.state.place(&student) {
            None => Err("You are not in line.".into()),
            Some(Place::Session(ta)) => Err(format!(
                "Your session with {0} is under way; {0} ends it.",
                self.state.staff_name(ta)
            )),
            Some(Place::Line(i)) => {
                self.state.line.remove(i);
                self.state.stats.cancels += 1;
                self.tell(&student, "left", "You left the line.");
                Ok("You left the line.".into())
            }
            Some(Place::Offered(ta)) => {
                let ta = ta.to_owned();
                self.withdraw_offer(&ta, false);
                self.state.stats.cancels += 1;
                self.tell(
                    &student,
                    "left",
                    "You declined the offer and left the line.",
                );
                self.tell_ta(
                    &ta,
                    "declined",
                    format!(
                        "{student} declined and left the line; call the next student when ready."
                    ),
                );
                Ok("You declined the offer and left the line.".into())
            }
        }
    }

    fn on_duty(&mut self, actor: &Actor, event: &Event<'_>) -> Result {
        let ta = Self::duty_ta(actor, event)?;
        if self.state.on_duty.contains_key(&ta) {
            return Err(format!("{ta} is already on duty."));
        }
        let link = event
            .str_field("meeting_link")
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty());
        if let Some(l) = &link {
            CourseSettings {
                meeting_link: Some(l.clone()),
                ..CourseSettings::default()
            }
            .validate()?;
        }
        let origin = match actor {
            Actor::Staff { .. } => "self".to_owned(),
            _ => event
                .str_field("origin")
                .map(|o| o.into_owned())
                .unwrap_or_else(|| "staff".into()),
        };
        let opened = !self.state.is_open();
        self.state.on_duty.insert(
            ta.clone(),
            Duty {
                since: self.now,
                meeting_link: link,
                origin,
                waiting: false,
            },
        );
        let mut message = if opened {
            format!("{ta} is on duty: office hours are open.")
        } else {
            format!("{ta} is on duty.")
        };
        if opened {
            for w in self.state.line.clone() {
                self.tell(&w.student, "opened", "Office hours are open.");
            }
        }
        // Opening office hours calls the next student for this TA (rule 2).
        let call = self.call_for(&ta);
        message.push(' ');
        message.push_str(&call);
        self.tell_ta(&ta, "on_duty", message.clone());
        Ok(message)
    }

    fn off_duty(&mut self, actor: &Actor, event: &Event<'_>) -> Result {
        let ta = Self::duty_ta(actor, event)?;
        self.take_off_duty(&ta)
            .ok_or_else(|| format!("{ta} is not on duty."))
    }

    fn take_off_duty(&mut self, ta: &str) -> Option<String> {
        self.state.on_duty.remove(ta)?;
        let mut message = format!("{ta} is off duty.");
        if let Some(offer) = self.withdraw_offer(ta, true) {
            let student = offer.entry.student;
            self.tell(
                &student,
                "withdrawn",
                format!(
                    "{} went off duty before you accepted; you are back at the front of the line.",
                    self.state.staff_name(ta)
                ),
            );
            message.push_str(&format!(" {student} goes back to the front of the line."));
        }
        if let Some(session) = self.end_session(ta) {
            let student = session.entry.student;
            self.tell(
                &student,
                "ended",
                format!("Your session with {} ended.", self.state.staff_name(ta)),
            );
        }
        if !self.state.is_open() {
            let waiting: Vec<String> = self.state.line.iter().map(|w| w.student.clone()).collect();
            match self.settings.on_close {
                OnClose::Keep => {
                    for s in &waiting {
                        self.tell(
                            s,
                            "closed",
                            "Office hours are closed. You keep your place in line until they open again.",
                        );
                    }
                    message.push_str(&format!(
                        " Office hours are closed; {} student(s) keep their place.",
                        waiting.len()
                    ));
                }
                OnClose::Clear => {
                    self.state.line.clear();
                    for s in &waiting {
                        self.tell(
                            s,
                            "closed",
                            "Office hours are closed and the line was cleared. Join again when they open.",
                        );
                    }
                    message.push_str(&format!(
                        " Office hours are closed; the line ({} student(s)) was cleared.",
                        waiting.len()
                    ));
                }
            }
        }
        self.tell_ta(ta, "off_duty", message.clone());
        Some(message)
    }

    fn call_next(&mut self, actor: &Actor) -> Result {
        let ta = Self::staff(actor, "call the next student")?;
        if !self.state.on_duty.contains_key(&ta) {
            return Err("You are not on duty: open office hours first.".into());
        }
        if let Some(o) = self.state.offers.get(&ta) {
            return Err(format!(
                "You already called {}; wait for their answer or for the offer to expire.",
                o.entry.student
            ));
        }
        if let Some(s) = self.state.sessions.get(&ta) {
            return Err(format!(
                "You are in a session with {}: end it first.",
                s.entry.student
            ));
        }
        let message = self.call_for(&ta);
        self.tell_ta(&ta, "offer", message.clone());
        Ok(message)
    }

    fn accept(&mut self, actor: &Actor, event: &Event<'_>) -> Result {
        let student = Self::student(actor, "accept an offer")?;
        let wanted: Option<u64> = event.field("offer");
        let place = self.state.place(&student);
        let Some(Place::Offered(ta)) = place else {
            let late = self
                .state
                .recent_expired
                .iter()
                .rev()
                .find(|e| e.student == student && wanted.is_none_or(|w| w == e.offer))
                .cloned();
            let now_where = match place {
                Some(Place::Line(i)) => format!(" You are in line at position {}.", i + 1),
                Some(Place::Session(ta)) => {
                    format!(" You are in a session with {}.", self.state.staff_name(ta))
                }
                _ => " You are not in line any more.".into(),
            };
            return Err(match late {
                Some(e) => format!(
                    "Too late: the offer expired at {} (server time).{now_where}",
                    clock_text(e.deadline)
                ),
                None => format!("You have no offer to accept.{now_where}"),
            });
        };
        let ta = ta.to_owned();
        let offer = &self.state.offers[&ta];
        if let Some(w) = wanted
            && w != offer.id
        {
            return Err(format!(
                "That offer is no longer open; your current offer is number {}.",
                offer.id
            ));
        }
        if self.now >= offer.deadline {
            // Its expiry is on its way through the log; the answer does not wait for it.
            return Err(format!(
                "Too late: the offer expired at {} (server time).",
                clock_text(offer.deadline)
            ));
        }
        let offer = self.withdraw_offer(&ta, false).expect("found above");
        let link = self
            .state
            .on_duty
            .get(&ta)
            .and_then(|d| d.meeting_link.clone())
            .or_else(|| self.settings.meeting_link.clone());
        let wait = self.now.since(offer.entry.joined).as_micros() as i64;
        let stats = &mut self.state.stats;
        stats.accepted += 1;
        stats.total_wait_us += wait;
        stats.max_wait_us = stats.max_wait_us.max(wait);
        *stats.sessions_per_ta.entry(ta.clone()).or_default() += 1;
        self.state.sessions.insert(
            ta.clone(),
            Session {
                offer: offer.id,
                entry: offer.entry,
                ta: ta.clone(),
                started: self.now,
                meeting_link: link,
            },
        );
        self.tell(
            &student,
            "session",
            format!("You are in a session with {}.", self.state.staff_name(&ta)),
        );
        self.tell_ta(
            &ta,
            "session",
            format!("{student} accepted: your session started."),
        );
        Ok(format!(
            "You are in a session with {}.",
            self.state.staff_name(&ta)
        ))
    }

    fn expire(&mut self, actor: &Actor, event: &Event<'_>) -> Result<Option<String>> {
        if !matches!(actor, Actor::Timer | Actor::System) {
            return Err("offers expire by themselves".into());
        }
        let Some(id) = event.field::<u64>("offer") else {
            return Err("offer_expired needs an \"offer\" number".into());
        };
        let Some(ta) = self
            .state
            .offers
            .iter()
            .find(|(_, o)| o.id == id)
            .map(|(ta, _)| ta.clone())
        else {
            // Accepted, declined or withdrawn first: nothing to do.
            return Ok(None);
        };
        let mut offer = self.state.offers.remove(&ta).expect("found above");
        self.state.stats.no_shows += 1;
        self.state.recent_expired.push_back(Expired {
            student: offer.entry.student.clone(),
            offer: offer.id,
            deadline: offer.deadline,
        });
        while self.state.recent_expired.len() > RECENT_EXPIRED {
            self.state.recent_expired.pop_front();
        }
        let student = offer.entry.student.clone();
        let message = match self.settings.expired_offer {
            ExpiredOffer::Back => {
                offer.entry.expired += 1;
                self.state.line.push(offer.entry);
                let p = self.state.line.len();
                self.tell(
                    &student,
                    "expired",
                    format!("You did not accept in time: the offer expired and you are back in line, at position {p}."),
                );
                format!("The offer to {student} expired; they went to the back of the line.")
            }
            ExpiredOffer::Remove => {
                self.tell(
                    &student,
                    "expired",
                    "You did not accept in time: the offer expired and you left the line. Join again if you still need help.",
                );
                format!("The offer to {student} expired; they left the line.")
            }
        };
        self.tell_ta(
            &ta,
            "expired",
            format!("{message} Call the next student when ready."),
        );
        Ok(Some(message))
    }

    fn session_ended(&mut self, actor: &Actor) -> Result {
        let ta = Self::staff(actor, "end a session")?;
        let Some(session) = self.end_session(&ta) else {
            return Err("You are not in a session.".into());
        };
        let student = session.entry.student;
        self.tell(
            &student,
            "ended",
            format!("Your session with {} ended.", self.state.staff_name(&ta)),
        );
        let message =
            format!("Your session with {student} ended; call the next student when ready.");
        self.tell_ta(&ta, "ended", message.clone());
        Ok(message)
    }

    fn announce(&mut self, actor: &Actor, event: &Event<'_>) -> Result {
        let by = match actor {
            Actor::Staff { id, .. } => id.clone(),
            Actor::System => event
                .str_field("by")
                .map(|b| b.into_owned())
                .unwrap_or_else(|| "staff".into()),
            _ => return Err("only the course's TAs and teachers make announcements".into()),
        };
        let text = event
            .str_field("text")
            .map(|t| t.trim().to_owned())
            .unwrap_or_default();
        if text.chars().count() > MAX_ANNOUNCEMENT_CHARS {
            return Err(format!(
                "An announcement is at most {MAX_ANNOUNCEMENT_CHARS} characters."
            ));
        }
        let everyone = self.everyone();
        if text.is_empty() {
            self.state.announcement = None;
            for s in &everyone {
                self.tell(s, "announcement", "The announcement was removed.");
            }
            return Ok("The announcement was removed.".into());
        }
        self.state.announcement = Some(Announcement {
            text: text.clone(),
            by,
            at: self.now,
        });
        for s in &everyone {
            self.tell(s, "announcement", text.clone());
        }
        Ok(format!("Announced to {} student(s).", everyone.len()))
    }

    fn everyone(&self) -> Vec<String> {
        let s = &self.state;
        s.line
            .iter()
            .map(|w| w.student.clone())
            .chain(s.offers.values().map(|o| o.entry.student.clone()))
            .chain(s.sessions.values().map(|x| x.entry.student.clone()))
            .collect()
    }

    fn settings(&mut self, actor: &Actor, event: &Event<'_>) -> Result {
        match actor {
            Actor::Staff {
                role: Role::Teacher,
                ..
            }
            | Actor::System => {}
            _ => return Err("only the course's teachers change its office-hours settings".into()),
        }
        let mut fields = Vec::new();
        event.fields.write_json(&mut fields);
        let mut value: serde_json::Map<String, Value> =
            serde_json::from_slice(&fields).map_err(|e| e.to_string())?;
        // Only the settings themselves (the rest is the envelope of a command: lock fields…).
        value.retain(|k, _| {
            matches!(
                k.as_str(),
                "offer_window_secs" | "expired_offer" | "on_close" | "meeting_link"
            )
        });
        let change: CourseSettings = serde_json::from_value(Value::Object(value))
            .map_err(|e| format!("bad settings: {e}"))?;
        change.validate()?;
        self.state.settings = change.over(&self.state.settings);
        Ok("Settings changed.".into())
    }

    fn roster(&mut self, change: &RosterEvent) -> Option<String> {
        match change {
            RosterEvent::Disenrolled { user_id, .. } => {
                match self.state.place(user_id)? {
                    Place::Line(i) => {
                        self.state.line.remove(i);
                    }
                    Place::Offered(ta) => {
                        let ta = ta.to_owned();
                        self.withdraw_offer(&ta, false);
                        self.tell_ta(
                            &ta,
                            "withdrawn",
                            format!(
                                "{user_id} is no longer enrolled; call the next student when ready."
                            ),
                        );
                    }
                    Place::Session(ta) => {
                        let ta = ta.to_owned();
                        self.end_session(&ta);
                        self.tell_ta(
                            &ta,
                            "ended",
                            format!("{user_id} is no longer enrolled; the session ended."),
                        );
                    }
                }
                self.tell(
                    user_id,
                    "removed",
                    "You are no longer enrolled in this course, so you left its office-hours line.",
                );
                Some(format!("{user_id} left the course and the line."))
            }
            RosterEvent::StaffAdded { user_id, name, .. } => {
                let known = self.state.staff_names.get(user_id);
                if known == Some(name) {
                    return None;
                }
                self.state.staff_names.insert(user_id.clone(), name.clone());
                Some(format!("{user_id} is staff of the course."))
            }
            RosterEvent::StaffRemoved { user_id, .. } => {
                let off = self.take_off_duty(user_id);
                let named = self.state.staff_names.remove(user_id).is_some();
                off.or_else(|| named.then(|| format!("{user_id} left the course's staff.")))
            }
            _ => None,
        }
    }
}

/// A notification: `{"status": "office_hours", "what", "message"?, <whose>: status, "now"}`.
///
/// Built by moving the status in: `json!` would serialize it into a copy, and with a message
/// for every waiting student at every call that copy was a good part of the reducer's time.
fn notification(
    what: &'static str,
    message: Option<String>,
    whose: &'static str,
    status: Value,
    now: Timestamp,
) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("status".into(), Value::from(STATUS));
    m.insert("what".into(), Value::from(what));
    if let Some(message) = message {
        m.insert("message".into(), Value::String(message));
    }
    m.insert(whose.into(), status);
    m.insert("now".into(), Value::from(now.as_micros()));
    Value::Object(m)
}

/// `HH:MM:SS` UTC of a server time, for messages.
fn clock_text(t: Timestamp) -> String {
    let secs = t.as_micros().div_euclid(1_000_000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

impl Reducer for QueueReducer {
    type State = QueueState;

    fn name(&self) -> &str {
        QUEUE_REDUCER
    }

    fn sources(&self) -> &[&str] {
        &[SOURCE, ROSTER_SOURCE]
    }

    fn scope(&self) -> Scope {
        Scope::course()
    }

    fn reduce(&self, state: &mut QueueState, event: &Event<'_>) -> Outcome {
        let Some(course) = event.str_field("course_id") else {
            return Outcome::unchanged();
        };
        if state.course_id.is_empty() {
            state.course_id = course.into_owned();
        }
        let settings = self.config.effective(&state.course_id, &state.settings);
        let default_service_us = (self.config.default_service_secs as i64) * 1_000_000;
        let before = state.line_views(default_service_us);
        let open_before = state.is_open();
        let mut step = Step {
            state,
            now: event.time,
            settings,
            max_question: self.config.max_question_chars,
            effects: Vec::new(),
            told: Vec::new(),
            to_students: Vec::new(),
            to_tas: Vec::new(),
        };
        let kind = event.kind();
        let actor = actor(event);

        let result: Result<Option<String>> = if event.source() == ROSTER_SOURCE {
            match RosterEvent::from_event(event) {
                Ok(Some(change)) => Ok(step.roster(&change)),
                _ => Ok(None),
            }
        } else {
            match kind.as_ref() {
                "join" => step.join(&actor, event).map(Some),
                "cancel" => step.cancel(&actor).map(Some),
                "ta_on_duty" => step.on_duty(&actor, event).map(Some),
                "ta_off_duty" => step.off_duty(&actor, event).map(Some),
                "call_next" => step.call_next(&actor).map(Some),
                "offer_accepted" | "accept" => step.accept(&actor, event).map(Some),
                "offer_expired" => step.expire(&actor, event),
                "session_ended" => step.session_ended(&actor).map(Some),
                "announcement" => step.announce(&actor, event).map(Some),
                "settings" => step.settings(&actor, event).map(Some),
                other => Err(format!("unknown office-hours event {other:?}")),
            }
        };

        // The answer to the sender (and, for commands, to HTTP callers).
        let is_command = event.source() == SOURCE && !matches!(actor, Actor::Timer);
        let (ok, message) = match &result {
            Ok(Some(m)) => (true, Some(m.clone())),
            Ok(None) => (true, None),
            Err(m) => (false, Some(m.clone())),
        };
        if let Err(reason) = &result {
            match &actor {
                Actor::Student(s) => {
                    let s = s.clone();
                    step.to_students
                        .push((s.clone(), "refused", reason.clone()));
                    step.told.push(s);
                }
                Actor::Staff { id, .. } => step.tell_ta(&id.clone(), "refused", reason.clone()),
                _ => {}
            }
        }
        if is_command && let Some(message) = &message {
            step.state.replies.push_back(Reply {
                node: event.position.node.to_owned(),
                seq: event.position.seq,
                ok,
                message: message.clone(),
            });
            while step.state.replies.len() > RECENT_REPLIES {
                step.state.replies.pop_front();
            }
        }
        if result.as_ref().is_ok_and(Option::is_none) && !is_command {
            // An expiry for an offer no longer outstanding, a roster event about others.
            return Outcome::unchanged();
        }

        // Notifications: explicit messages with the final status, then a position update for
        // every waiting student whose place or estimate changed.
        let Step {
            state,
            settings,
            effects,
            told,
            to_students,
            to_tas,
            ..
        } = step;
        // The server's time with every message, so pages count down by it, not by their clock.
        let now = event.time;
        let mut outcome = Outcome::changed();
        for effect in effects {
            outcome = outcome.with(effect);
        }
        for (student, what, message) in to_students {
            let me = state.student_status(&student, &settings, default_service_us);
            outcome = outcome.notify(
                Recipient::Student(student),
                notification(what, Some(message), "me", me, now),
            );
        }
        let after: Vec<(String, LineView)> = state.line_views(default_service_us);
        let open_changed = open_before != state.is_open();
        // The line keeps its order (an event removes or inserts a student or two), so each
        // student is looked for in `before` from where the previous one was found.
        let mut from = 0;
        for (student, view) in &after {
            if told.contains(student) {
                continue;
            }
            let found = before[from..]
                .iter()
                .position(|(s, _)| s == student)
                .map(|i| from + i)
                .or_else(|| before[..from].iter().position(|(s, _)| s == student));
            if let Some(i) = found {
                from = i + 1;
            }
            let unchanged = !open_changed && found.is_some_and(|i| before[i].1 == *view);
            if !unchanged {
                let me = state.student_status(student, &settings, default_service_us);
                outcome = outcome.notify(
                    Recipient::Student(student.clone()),
                    notification("position", None, "me", me, now),
                );
            }
        }
        for (ta, what, message) in to_tas {
            // TAs' pages are signed-in ingest sockets too: their id is their socket's identity.
            let me = state.ta_status(&ta);
            outcome = outcome.notify(
                Recipient::Student(ta),
                notification(what, Some(message), "ta", me, now),
            );
        }
        outcome
    }
}
