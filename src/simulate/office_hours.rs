//! `simulate --office-hours`: students and TAs running office hours, each over their own
//! `/wsapi/in/` socket, as the office-hours pages do (`docs/protocol.md`, *Office hours*).
//!
//! Every actor is driven by what its socket is told — the `me` status a student gets, the `ta`
//! status a TA gets — and has at most one command awaiting its answer (the reducer answers
//! every command: the matching notification, or `refused`), so each refusal is counted against
//! the command it answers. A student comes by again and again: thinks, joins with a question,
//! perhaps gives up waiting (cancels), and when called accepts after a moment — or does not show
//! up, and the offer expires. A TA goes on duty (which calls the first student), ends each
//! session after a while and calls the next.
//!
//! Seeded: each actor draws its choices from its own generators, one per kind of choice (a
//! student's k-th visit — think time, question, patience, no-show — and a TA's k-th pause and
//! session length are the same in every run with the same seed). Which of those choices come into
//! play depends on timing (whether a student is called before their patience runs out), which
//! follows the wall clock and the server.
//!
//! When told to wind down, students stop joining and leave the line (declining an offer), TAs
//! end their sessions and go off duty; each actor then waits for the acks of everything it sent.
//! What everyone sent, and what they were told, is tallied per course.

use super::courses::Layout;
use super::text::Rng;
use classpulse_office_hours::reducer::SOURCE;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// How long a command may wait for its answer before it is counted as unanswered.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// How long winding down may take.
const WIND_DOWN: Duration = Duration::from_secs(20);

const QUESTIONS: &[&str] = &[
    "How do I cite a source in my essay?",
    "Is my thesis statement clear enough?",
    "Can you look at my second paragraph?",
    "What does the rubric mean by evidence?",
    "How long should the conclusion be?",
    "Can I write in the first person?",
    "",
];
const LOCATIONS: &[&str] = &["Library, table 4", "Room 112", "online", ""];

/// How the office-hours actors behave.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Ingest URL.
    pub(crate) url: String,
    /// Seed of every actor's choices.
    pub(crate) seed: u64,
    /// The actors' pace, in seconds: a student thinks about two of these before joining, a
    /// TA pauses half of one before calling the next, a session lasts about two.
    pub(crate) pace: f64,
    /// Chance that a called student does not show up (lets the offer expire).
    pub(crate) no_show: f64,
    /// Chance that a student gives up waiting after a while (cancels).
    pub(crate) cancel: f64,
}

/// The office-hours commands the actors send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Join,
    Cancel,
    Accept,
    OnDuty,
    OffDuty,
    CallNext,
    EndSession,
}

impl Command {
    fn event(self) -> &'static str {
        match self {
            Command::Join => "join",
            Command::Cancel => "cancel",
            Command::Accept => "offer_accepted",
            Command::OnDuty => "ta_on_duty",
            Command::OffDuty => "ta_off_duty",
            Command::CallNext => "call_next",
            Command::EndSession => "session_ended",
        }
    }

    /// The `what` of the notification that says the command was carried out.
    fn done(self) -> &'static str {
        match self {
            Command::Join => "joined",
            Command::Cancel => "left",
            Command::Accept => "session",
            Command::OnDuty => "on_duty",
            Command::OffDuty => "off_duty",
            Command::CallNext => "offer",
            Command::EndSession => "ended",
        }
    }
}

/// What one course's actors sent and were told.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub(crate) struct CourseTally {
    /// Commands sent, by event name.
    pub(crate) sent: BTreeMap<&'static str, u64>,
    /// Commands the reducer refused (answered `refused`), by event name.
    pub(crate) refused: BTreeMap<&'static str, u64>,
    /// Commands that got no answer in time.
    pub(crate) unanswered: u64,
    /// Offers students were told of (`offer`).
    pub(crate) offers: u64,
    /// Offers students let lapse on purpose.
    pub(crate) ignored_offers: u64,
    /// Offers that expired (`expired`, told to the student).
    pub(crate) expired: u64,
    /// Sessions that ended (`ended`, told to the student).
    pub(crate) sessions_ended: u64,
    /// Commands sent and acknowledged (durable in the server's log).
    pub(crate) events: u64,
    /// See `events`.
    pub(crate) acked: u64,
    /// `{"status":"resync"}`: the server dropped notifications to a socket.
    pub(crate) resyncs: u64,
    /// Sockets that could not connect.
    pub(crate) connect_errors: u64,
}

impl CourseTally {
    fn merge(&mut self, other: &CourseTally) {
        for (k, v) in &other.sent {
            *self.sent.entry(k).or_default() += v;
        }
        for (k, v) in &other.refused {
            *self.refused.entry(k).or_default() += v;
        }
        self.unanswered += other.unanswered;
        self.offers += other.offers;
        self.ignored_offers += other.ignored_offers;
        self.expired += other.expired;
        self.sessions_ended += other.sessions_ended;
        self.events += other.events;
        self.acked += other.acked;
        self.resyncs += other.resyncs;
        self.connect_errors += other.connect_errors;
    }
}

/// Every course's tally, by course id.
pub(crate) type Tally = BTreeMap<String, CourseTally>;

/// The totals over every course.
pub(crate) fn total(tally: &Tally) -> CourseTally {
    let mut t = CourseTally::default();
    for c in tally.values() {
        t.merge(c);
    }
    t
}

/// Runs every course's students and TAs until `stop`; when `wind_down` is cancelled first,
/// they wind down (see the module docs) and this returns once they are done.
pub(crate) async fn run(
    settings: &Settings,
    layout: &Layout,
    wind_down: CancellationToken,
    stop: CancellationToken,
) -> Tally {
    let mut tasks = Vec::new();
    for course in &layout.courses {
        let actors = course
            .students
            .iter()
            .map(|s| (s, false))
            .chain(course.tas.iter().map(|t| (t, true)));
        for (user, is_ta) in actors {
            let seed = actor_seed(settings.seed, user);
            let actor = Actor {
                settings: settings.clone(),
                course: course.id.clone(),
                user: user.clone(),
                role: if is_ta {
                    Role::Ta(Ta::new(seed, settings.pace))
                } else {
                    Role::Student(Student::new(seed))
                },
                tally: CourseTally::default(),
                pending: None,
                last_sent: None,
                since: Instant::now(),
                winding: false,
                done: false,
                sent: 0,
                acked: 0,
            };
            let (wind_down, stop) = (wind_down.clone(), stop.clone());
            tasks.push(tokio::spawn(actor.run(wind_down, stop)));
        }
    }
    let mut tally = Tally::new();
    for course in &layout.courses {
        tally.insert(course.id.clone(), CourseTally::default());
    }
    for task in tasks {
        if let Ok((course, t)) = task.await {
            tally.entry(course).or_default().merge(&t);
        }
    }
    tally
}

/// An actor's seed: the run's seed and its user id (so adding courses does not change what an
/// existing actor does).
fn actor_seed(seed: u64, user: &str) -> u64 {
    user.bytes().fold(seed ^ 0xC1A5_5B01_5E55_1025, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// Uniform in [0, 1).
fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Exponential with this mean, in seconds, capped at five means.
fn exp_secs(rng: &mut Rng, mean: f64) -> Duration {
    let x = -mean * (1.0 - unit(rng)).ln();
    Duration::from_secs_f64(x.clamp(0.0, 5.0 * mean.max(0.0)))
}

/// What a student decides for one visit to office hours, drawn when the visit begins.
#[derive(Debug, Clone)]
struct Visit {
    think: Duration,
    question: &'static str,
    location: &'static str,
    /// Gives up waiting after this long (cancels), if at all.
    patience: Option<Duration>,
    /// Lets the first offer of this visit lapse.
    no_show: bool,
    /// Fraction of the accept window (at most a few seconds) before accepting.
    accept_after: f64,
    joined: bool,
}

#[derive(Debug)]
struct Student {
    visits: Rng,
    /// The visit under way (drawn when the student is out of line and free).
    visit: Option<Visit>,
    /// The status the server last sent (`me`).
    state: String,
    offer: Option<(u64, u64)>,
}

impl Student {
    fn new(seed: u64) -> Self {
        Student {
            visits: Rng::new(seed),
            visit: None,
            state: "none".into(),
            offer: None,
        }
    }

    fn draw(&mut self, s: &Settings) -> Visit {
        let r = &mut self.visits;
        let think = exp_secs(r, 2.0 * s.pace);
        let question = QUESTIONS[r.below(QUESTIONS.len() as u64) as usize];
        let location = LOCATIONS[r.below(LOCATIONS.len() as u64) as usize];
        let gives_up = unit(r) < s.cancel;
        let patience = exp_secs(r, 3.0 * s.pace) + Duration::from_secs_f64(s.pace);
        let no_show = unit(r) < s.no_show;
        let accept_after = unit(r);
        Visit {
            think,
            question,
            location,
            patience: gives_up.then_some(patience),
            no_show,
            accept_after,
            joined: false,
        }
    }
}

#[derive(Debug)]
struct Ta {
    /// When to go on duty, after connecting.
    start: Duration,
    pauses: Rng,
    sessions: Rng,
    /// The `ta` status the server last sent.
    on_duty: bool,
    offer: bool,
    session: bool,
    waiting: bool,
    /// Drawn when the TA becomes free / a session starts.
    pause: Duration,
    service: Duration,
    went_on_duty: bool,
}

impl Ta {
    fn new(seed: u64, pace: f64) -> Self {
        Ta {
            start: exp_secs(&mut Rng::new(seed), pace),
            pauses: Rng::new(seed ^ 0x5A5A_5A5A),
            sessions: Rng::new(seed ^ 0xA5A5_A5A5),
            on_duty: false,
            offer: false,
            session: false,
            waiting: false,
            pause: Duration::ZERO,
            service: Duration::ZERO,
            went_on_duty: false,
        }
    }
}

#[derive(Debug)]
enum Role {
    Student(Student),
    Ta(Ta),
}

type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

struct Actor {
    settings: Settings,
    course: String,
    user: String,
    role: Role,
    tally: CourseTally,
    /// The command awaiting its answer, and since when.
    pending: Option<(Command, Instant)>,
    last_sent: Option<Command>,
    /// When the actor's state (as the server last told it) began.
    since: Instant,
    winding: bool,
    done: bool,
    sent: u64,
    acked: u64,
}

impl Actor {
    async fn run(
        mut self,
        wind_down: CancellationToken,
        stop: CancellationToken,
    ) -> (String, CourseTally) {
        let ws = match tokio_tungstenite::connect_async(self.settings.url.as_str()).await {
            Ok((ws, _)) => ws,
            Err(e) => {
                eprintln!("simulate: office hours: {} cannot connect: {e}", self.user);
                self.tally.connect_errors += 1;
                return (self.course, self.tally);
            }
        };
        let (mut sink, mut stream) = ws.split();
        let header = json!({"event": "lock_fields", "fields": {
            "source": SOURCE, "user_id": self.user, "course_id": self.course, "ack": true}});
        if sink
            .send(Message::Text(header.to_string().into()))
            .await
            .is_err()
        {
            self.tally.connect_errors += 1;
            return (self.course, self.tally);
        }
        self.since = Instant::now();
        let mut hard_stop: Option<Instant> = None;
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        loop {
            let next = self.next();
            if self.done && self.pending.is_none() && self.acked >= self.sent {
                break;
            }
            let wake = match (next, self.pending) {
                (_, Some((_, at))) => at + ANSWER_TIMEOUT,
                (Some((at, _)), None) => at,
                (None, None) => far,
            };
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = wind_down.cancelled(), if !self.winding => {
                    self.winding = true;
                    hard_stop = Some(Instant::now() + WIND_DOWN);
                }
                () = tokio::time::sleep_until(hard_stop.unwrap_or(far)) => break,
                m = stream.next() => {
                    let Some(Ok(m)) = m else { break };
                    if let Message::Text(text) = m {
                        self.told(text.as_str());
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    if self.pending.is_some() {
                        // No answer in time: give up on it, and carry on.
                        self.tally.unanswered += 1;
                        self.pending = None;
                    } else if let Some((_, command)) = next
                        && self.send(&mut sink, command).await.is_err()
                    {
                        break;
                    }
                }
            }
        }
        let _ = sink.send(Message::Close(None)).await;
        self.tally.events = self.sent;
        self.tally.acked = self.acked;
        (self.course, self.tally)
    }

    /// The next command to send, and when (`None`: wait to be told something).
    fn next(&mut self) -> Option<(Instant, Command)> {
        if self.pending.is_some() || self.done {
            return None;
        }
        let now = Instant::now();
        let since = self.since;
        let winding = self.winding;
        let settings = &self.settings;
        match &mut self.role {
            Role::Student(st) => match st.state.as_str() {
                "waiting" if winding => Some((now, Command::Cancel)),
                "offered" if winding => Some((now, Command::Cancel)),
                "none" if winding => {
                    self.done = true;
                    None
                }
                "none" => {
                    let fresh = st.visit.as_ref().is_none_or(|v| v.joined);
                    if fresh {
                        st.visit = Some(st.draw(settings));
                    }
                    let v = st.visit.as_ref()?;
                    Some((since + v.think, Command::Join))
                }
                "waiting" => {
                    let v = st.visit.as_ref()?;
                    v.patience.map(|p| (since + p, Command::Cancel))
                }
                "offered" => {
                    let v = st.visit.as_ref()?;
                    if v.no_show {
                        return None;
                    }
                    let window = st.offer.map_or(60, |(_, w)| w) as f64;
                    let delay = (v.accept_after * 2.0 * settings.pace).min(window * 0.3);
                    Some((since + Duration::from_secs_f64(delay), Command::Accept))
                }
                _ => None,
            },
            Role::Ta(ta) => {
                if winding {
                    return if !ta.on_duty {
                        self.done = true;
                        None
                    } else if ta.session {
                        Some((now, Command::EndSession))
                    } else if ta.offer {
                        None
                    } else {
                        Some((now, Command::OffDuty))
                    };
                }
                if !ta.on_duty {
                    if ta.went_on_duty {
                        return None;
                    }
                    return Some((since + ta.start, Command::OnDuty));
                }
                if ta.session {
                    Some((since + ta.service, Command::EndSession))
                } else if ta.offer || ta.waiting {
                    None
                } else {
                    Some((since + ta.pause, Command::CallNext))
                }
            }
        }
    }

    async fn send(&mut self, sink: &mut Sink, command: Command) -> Result<(), ()> {
        let mut body = json!({"event": command.event()});
        match (&mut self.role, command) {
            (Role::Student(st), Command::Join) => {
                if let Some(v) = &mut st.visit {
                    v.joined = true;
                    body["question"] = json!(v.question);
                    body["location"] = json!(v.location);
                }
            }
            (Role::Student(st), Command::Accept) => {
                if let Some((id, _)) = st.offer {
                    body["offer"] = json!(id);
                }
            }
            (Role::Ta(ta), Command::OnDuty) => ta.went_on_duty = true,
            _ => {}
        }
        sink.send(Message::Text(body.to_string().into()))
            .await
            .map_err(|_| ())?;
        self.sent += 1;
        *self.tally.sent.entry(command.event()).or_default() += 1;
        self.pending = Some((command, Instant::now()));
        self.last_sent = Some(command);
        Ok(())
    }

    /// A message from the server.
    fn told(&mut self, text: &str) {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return;
        };
        match v["status"].as_str() {
            Some("ack") => self.acked = v["count"].as_u64().unwrap_or(self.acked),
            Some("resync") => self.tally.resyncs += 1,
            Some("office_hours") => self.office_hours(&v),
            _ => {}
        }
    }

    fn office_hours(&mut self, v: &Value) {
        let what = v["what"].as_str().unwrap_or_default();
        if what == "refused" {
            if let Some(c) = self.last_sent {
                *self.tally.refused.entry(c.event()).or_default() += 1;
            }
            self.pending = None;
        } else if self.pending.is_some_and(|(c, _)| c.done() == what) {
            self.pending = None;
        }
        let now = Instant::now();
        match &mut self.role {
            Role::Student(st) => {
                match what {
                    "offer" => self.tally.offers += 1,
                    "expired" => {
                        self.tally.expired += 1;
                        // Back in line (or out of it) after a no-show: the next offer of this
                        // visit is taken.
                        if let Some(visit) = &mut st.visit {
                            visit.no_show = false;
                        }
                    }
                    "ended" => self.tally.sessions_ended += 1,
                    _ => {}
                }
                let me = &v["me"];
                let state = me["state"].as_str().unwrap_or("none").to_owned();
                let offer = me["offer"]["id"]
                    .as_u64()
                    .map(|id| (id, me["offer"]["window_secs"].as_u64().unwrap_or(60)));
                if state == "offered"
                    && st.offer.map(|o| o.0) != offer.map(|o| o.0)
                    && st.visit.as_ref().is_some_and(|v| v.no_show)
                {
                    self.tally.ignored_offers += 1;
                }
                if state != st.state || offer.map(|o| o.0) != st.offer.map(|o| o.0) {
                    self.since = now;
                }
                st.state = state;
                st.offer = offer;
            }
            Role::Ta(ta) => {
                let s = &v["ta"];
                let on_duty = s["on_duty"].as_bool().unwrap_or(false);
                let offer = !s["offer"].is_null();
                let session = !s["session"].is_null();
                let waiting = s["waiting_for_student"].as_bool().unwrap_or(false);
                let changed = (on_duty, offer, session, waiting)
                    != (ta.on_duty, ta.offer, ta.session, ta.waiting);
                if changed {
                    self.since = now;
                    if on_duty && session && !ta.session {
                        ta.service = exp_secs(&mut ta.sessions, 1.0 * self.settings.pace)
                            + Duration::from_secs_f64(self.settings.pace);
                    }
                    if on_duty && !offer && !session && !waiting {
                        ta.pause = exp_secs(&mut ta.pauses, 0.5 * self.settings.pace);
                    }
                }
                ta.on_duty = on_duty;
                ta.offer = offer;
                ta.session = session;
                ta.waiting = waiting;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(seed: u64) -> Settings {
        Settings {
            url: String::new(),
            seed,
            pace: 1.0,
            no_show: 0.3,
            cancel: 0.3,
        }
    }

    fn visits(seed: u64, user: &str) -> Vec<(Duration, &'static str, Option<Duration>, bool)> {
        let s = settings(seed);
        let mut student = Student::new(actor_seed(s.seed, user));
        (0..20)
            .map(|_| {
                let v = student.draw(&s);
                (v.think, v.question, v.patience, v.no_show)
            })
            .collect()
    }

    #[test]
    fn same_seed_same_choices_per_actor() {
        assert_eq!(visits(7, "sim-3"), visits(7, "sim-3"));
        assert_ne!(visits(7, "sim-3"), visits(8, "sim-3"));
        assert_ne!(visits(7, "sim-3"), visits(7, "sim-4"));
        let all = visits(7, "sim-3");
        // Over twenty visits some give up, some do not show, most do neither.
        assert!(all.iter().any(|v| v.2.is_some()) && all.iter().any(|v| v.3));
        assert!(all.iter().filter(|v| v.2.is_none() && !v.3).count() > 5);
        let ta = |seed| Ta::new(actor_seed(seed, "c0-ta0"), 1.0).start;
        assert_eq!(ta(7), ta(7));
    }

    #[test]
    fn tallies_add_up_over_courses() {
        let mut a = CourseTally::default();
        a.sent.insert("join", 3);
        a.refused.insert("join", 1);
        a.offers = 2;
        let mut tally = Tally::new();
        tally.insert("c0".into(), a.clone());
        tally.insert("c1".into(), a);
        let t = total(&tally);
        assert_eq!((t.sent["join"], t.refused["join"], t.offers), (6, 2, 4));
    }
}
