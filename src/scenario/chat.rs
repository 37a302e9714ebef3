//! A terminal simulator for trying a scenario: `hookline scenario chat` (wired by the CLI).
//! It drives the real engine, runs auto transitions at once instead of waiting, and prints
//! deterministically so tests can script it through in-memory pipes.

use std::io::{self, BufRead, Write};

use super::engine::step;
use super::model::Scenario;
use super::types::{Action, Button, Context, DialogState, Input, OutMessage, UserInfo};

/// A safety net on top of the engine's own chain cap.
const MAX_TICKS: usize = 1_000;

/// Reads lines from `input` and prints the bot's side to `out`. A line is a reply, a button
/// number (`1` presses `[1]`), a command (`/start`), `:vars` (collected data as JSON) or `:quit`.
/// The dialog starts with `/start`; EOF ends the session.
pub fn run_chat(
    scenario: &Scenario,
    input: impl BufRead,
    mut out: impl Write,
    mut now: impl FnMut() -> i64,
) -> io::Result<()> {
    let ctx = Context {
        platform: "cli".into(),
        chat_id: "local".into(),
        user: UserInfo {
            first_name: Some("Tester".into()),
            ..UserInfo::default()
        },
    };
    writeln!(
        out,
        "Scenario chat. Type a reply, a button number, /start, /help, /reset, :vars or :quit."
    )?;
    let mut sim = Sim {
        scenario,
        ctx,
        state: None,
        buttons: Vec::new(),
    };
    sim.feed(
        &Input::Command {
            name: "start".into(),
            payload: None,
        },
        &mut now,
        &mut out,
    )?;
    for line in input.lines() {
        let line = line?;
        let line = line.trim_end_matches(['\r', '\n']);
        match line.trim() {
            "" => continue,
            ":quit" | ":q" => break,
            ":vars" => {
                let data = sim
                    .state
                    .as_ref()
                    .map(|s| serde_json::Value::Object(s.data.clone()))
                    .unwrap_or_default();
                let text = serde_json::to_string_pretty(&data).unwrap_or_default();
                writeln!(out, "{}", if data.is_null() { "{}".to_string() } else { text })?;
                continue;
            }
            _ => {}
        }
        writeln!(out, "> {line}")?;
        let pressed = line
            .trim()
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| sim.buttons.get(i))
            .map(|b| Input::Button(b.value.clone()));
        let input = pressed.unwrap_or_else(|| Input::from_text(line));
        sim.feed(&input, &mut now, &mut out)?;
    }
    out.flush()
}

struct Sim<'a> {
    scenario: &'a Scenario,
    ctx: Context,
    state: Option<DialogState>,
    /// Buttons of the last message that had any: what a number presses.
    buttons: Vec<Button>,
}

impl Sim<'_> {
    fn feed(&mut self, input: &Input, now: &mut impl FnMut() -> i64, out: &mut impl Write) -> io::Result<()> {
        let mut next = Some(input.clone());
        let mut ticks = 0;
        while let Some(input) = next.take() {
            let outcome = step(self.scenario, self.state.as_ref(), &input, &self.ctx, now());
            self.state = outcome.state;
            let mut sent_any = false;
            for action in &outcome.actions {
                match action {
                    Action::Send(msg) => {
                        sent_any = true;
                        if !msg.buttons.is_empty() {
                            self.buttons = msg.buttons.clone();
                        }
                        print_message(msg, out)?;
                    }
                    Action::Emit { event_type, data } => writeln!(out, "~ {event_type} {data}")?,
                    Action::ScheduleAuto { token, .. } if ticks < MAX_TICKS => {
                        ticks += 1;
                        next = Some(Input::AutoTick { token: *token });
                    }
                    Action::ScheduleAuto { .. } | Action::AnswerCallback { .. } => {}
                }
            }
            if sent_any
                && !outcome
                    .actions
                    .iter()
                    .any(|a| matches!(a, Action::Send(m) if !m.buttons.is_empty()))
            {
                self.buttons.clear();
            }
        }
        Ok(())
    }
}

fn print_message(msg: &OutMessage, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{}", msg.text)?;
    for m in &msg.media {
        match &m.caption {
            Some(c) => writeln!(out, "  [{}: {}] {c}", m.kind, m.file_id)?,
            None => writeln!(out, "  [{}: {}]", m.kind, m.file_id)?,
        }
    }
    for (i, b) in msg.buttons.iter().enumerate() {
        writeln!(out, "  [{}] {}", i + 1, b.text)?;
    }
    writeln!(out)
}
