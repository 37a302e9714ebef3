//! Golden conversations over the real GET INN onboarding scenario (its recorded conversations, adapted to
//! hookline's decisions: display steps advance, `/start` renders the templated start step).

use serde_json::{Value, json};

use super::super::texts;
use super::super::{DialogStatus, Input, OutcomeKind, RejectReason};
use super::{Driver, button_values, chiho, events, sends, texts};

const TOMORROW_ERROR: &str = "Пожалуйста, введи дату и время в формате ДД.ММ ЧЧ:ММ, например: 10.06 10:00";

/// Walks the registration chain up to `confirm_data`.
fn register(d: &mut Driver<'_>) {
    d.text("/start");
    d.text("Иван");
    d.text("Петров");
    d.press("cook");
    d.press("aviapark");
    d.text("10.06 10:00");
    d.press("rf");
    assert_eq!(d.at(), "confirm_data");
}

#[test]
fn case48_new_chat_opens_at_welcome_without_interpreting_the_input() {
    let sc = chiho();
    let mut d = Driver::new(&sc);
    let out = d.text("hi");
    assert_eq!(out.kind, OutcomeKind::Started);
    assert_eq!(d.at(), "welcome");
    assert!(d.state.as_ref().is_some_and(|s| s.data.is_empty()));
    let t = texts(&out);
    assert_eq!(t.len(), 1);
    assert!(t[0].starts_with("Нихао 你好"));
    assert_eq!(
        events(&out),
        vec![("dialog.started".to_string(), json!({"step": "welcome"}))]
    );
}

#[test]
fn case49_name_is_stored_and_the_dialog_moves_on() {
    let sc = chiho();
    let mut d = Driver::new(&sc);
    d.text("hi");
    let out = d.text("Иван");
    assert_eq!(out.kind, OutcomeKind::Advanced);
    assert_eq!(d.var("first_name"), json!("Иван"));
    assert_eq!(d.at(), "ask_lastname");
    assert_eq!(texts(&out), vec!["А теперь напиши, пожалуйста, фамилию".to_string()]);
    assert!(events(&out).contains(&(
        "dialog.step_changed".into(),
        json!({"from": "welcome", "to": "ask_lastname"})
    )));
}

#[test]
fn case50_text_at_a_button_step_is_corrected_then_a_click_is_stored() {
    let sc = chiho();
    let mut d = Driver::new(&sc);
    d.text("/start");
    d.text("Иван");
    d.text("Петров");
    assert_eq!(d.at(), "ask_position");
    let before = d.state.clone();
    let out = d.text("повар");
    assert_eq!(out.kind, OutcomeKind::Rejected(RejectReason::WrongInputType));
    let s = sends(&out);
    assert_eq!(s.len(), 1);
    assert_eq!(
        s[0].text,
        "Please click one of these buttons: Фуд-гид, Повар, Менеджер, Я из офиса 🤓"
    );
    assert_eq!(button_values(s[0]), ["food-guide", "cook", "manager", "office"]);
    assert_eq!(d.state.as_ref().map(|s| &s.data), before.as_ref().map(|s| &s.data));
    assert_eq!(d.at(), "ask_position");
    let out = d.press("cook");
    assert_eq!(d.var("position"), json!("cook"));
    assert_eq!(d.at(), "ask_project");
    assert_eq!(
        out.actions.first(),
        Some(&super::super::Action::AnswerCallback { text: None })
    );
}

#[test]
fn case51_confirm_data_renders_mapped_values() {
    let sc = chiho();
    let mut d = Driver::new(&sc);
    d.text("/start");
    d.text("Иван");
    d.text("Петров");
    d.press("cook");
    d.press("aviapark");
    d.text("10.06 10:00");
    let out = d.press("rf");
    assert_eq!(d.at(), "confirm_data");
    let text = &texts(&out)[0];
    assert!(text.contains("👤 Имя: Иван\n"), "{text}");
    assert!(text.contains("💼 Должность: Повар\n"), "{text}");
    assert!(text.contains("🏢 Проект: Авиапарк\n"), "{text}");
    assert!(text.contains("🗓 Первая стажировка: 10.06 10:00\n"), "{text}");
    assert!(text.contains("🌐 Гражданство: РФ\n"), "{text}");
    assert_eq!(
        d.var("position"),
        json!("cook"),
        "the raw value is stored, not the label"
    );
    let out = d.press("bogus");
    assert_eq!(out.kind, OutcomeKind::Rejected(RejectReason::InvalidButton));
    assert_eq!(d.at(), "confirm_data");
}

#[test]
fn case52_confirm_no_goes_back_to_welcome_and_yes_continues() {
    let sc = chiho();
    let mut d = Driver::new(&sc);
    register(&mut d);
    let out = d.press("no");
    assert_eq!(d.at(), "welcome");
    assert!(texts(&out)[0].starts_with("Нихао"));
    register_again(&mut d);
    d.press("yes");
    assert_eq!(d.at(), "first_day_instructions");
}

fn register_again(d: &mut Driver<'_>) {
    d.text("Иван");
    d.text("Петров");
    d.press("cook");
    d.press("aviapark");
    d.text("10.06 10:00");
    d.press("rf");
}

#[test]
fn case53_start_mid_dialog_restarts_with_the_start_step() {
    let sc = chiho();
    let mut d = Driver::new(&sc);
    register(&mut d);
    let out = d.text("/start");
    assert_eq!(out.kind, OutcomeKind::Restarted);
    assert_eq!(d.at(), "welcome");
    assert!(
        d.state
            .as_ref()
            .is_some_and(|s| s.data.is_empty() && s.status == DialogStatus::Active)
    );
    assert!(texts(&out)[0].starts_with("Нихао"));
    assert!(events(&out).iter().any(|(e, _)| e == "dialog.started"));
}

#[test]
fn case54_help_keeps_state_and_reset_deletes_it() {
    let sc = chiho();
    let mut d = Driver::new(&sc);
    d.text("hi");
    d.text("Иван");
    let before = d.state.clone();
    let out = d.text("/help");
    assert_eq!(texts(&out), vec![texts::HELP.to_string()]);
    assert_eq!(out.kind, OutcomeKind::Command);
    assert_eq!(d.state, before);
    let out = d.text("/reset");
    assert!(out.state.is_none());
    assert_eq!(texts(&out), vec![texts::RESET.to_string()]);
    let out = d.text("/reset");
    assert!(out.state.is_none(), "reset without a dialog answers the same");
    assert_eq!(texts(&out), vec![texts::RESET.to_string()]);
}

#[test]
fn case55_display_steps_now_advance_on_any_input() {
    let sc = chiho();
    let mut d = Driver::new(&sc);
    let mut state = super::super::DialogState::new("menu_ideology");
    state.data.insert("position".into(), json!("cook"));
    d.state = Some(state);
    let out = d.text("что-нибудь");
    assert_eq!(out.kind, OutcomeKind::Advanced);
    assert_eq!(d.at(), "menu");
    assert_eq!(texts(&out), vec!["📂 Что хочешь посмотреть?".to_string()]);
}

#[test]
fn case56_conditional_message_picks_the_cis_text() {
    let sc = chiho();
    let mut d = Driver::new(&sc);
    let mut state = super::super::DialogState::new("first_day_instructions");
    state.data.insert("citizenship".into(), json!("cis"));
    d.state = Some(state);
    let out = d.press("next");
    assert_eq!(d.at(), "documents_button");
    let s = sends(&out);
    assert!(s[0].text.contains("Миграционная карта"));
    assert!(!s[0].text.contains("Трудовая книжка"));
    assert_eq!(button_values(s[0]), ["ok"]);
}

#[test]
fn validator_cases_15_to_17_corrections() {
    let sc = chiho();
    let mut d = Driver::new(&sc);
    d.text("/start");
    let out = d.press("cook");
    assert_eq!(out.kind, OutcomeKind::Rejected(RejectReason::WrongInputType));
    assert_eq!(texts(&out), vec![texts::TEXT_INSTEAD.to_string()]);
    assert_eq!(d.at(), "welcome");
    d.text("Иван");
    d.text("Петров");
    d.press("cook");
    d.press("aviapark");
    d.text("10.06 10:00");
    let out = d.press("nonexistent_option");
    assert_eq!(out.kind, OutcomeKind::Rejected(RejectReason::InvalidButton));
    assert_eq!(
        texts(&out),
        vec!["Please choose one of these options: РФ, СНГ".to_string()]
    );
    assert_eq!(button_values(sends(&out)[0]), ["rf", "cis"]);
}

#[test]
fn full_run_through_every_step_to_the_menu_and_back() {
    let sc = chiho();
    let mut d = Driver::new(&sc);
    let out = d.text("/start");
    assert!(texts(&out)[0].starts_with("Нихао"));
    d.text("Иван");
    d.text("Петров");
    d.press("cook");
    d.press("aviapark");
    assert_eq!(d.at(), "ask_first_shift");
    let out = d.text("tomorrow");
    assert_eq!(out.kind, OutcomeKind::Rejected(RejectReason::Invalid));
    assert_eq!(texts(&out), vec![TOMORROW_ERROR.to_string()]);
    assert_eq!(d.state.as_ref().map(|s| s.retries), Some(1));
    let out = d.text("10.06 10:00 и ещё");
    assert_eq!(
        out.kind,
        OutcomeKind::Rejected(RejectReason::Invalid),
        "the pattern must match the whole input"
    );
    d.text("10.06 10:00");
    assert_eq!(d.var("first_shift_datetime"), json!("10.06 10:00"));
    assert_eq!(d.state.as_ref().map(|s| s.retries), Some(0));
    d.press("rf");
    let out = d.press("yes");
    assert_eq!(d.at(), "first_day_instructions");
    assert!(!texts(&out).is_empty());
    // Every information step has one button; press it and check the chain's order.
    let chain = [
        ("first_day_instructions", "next", "documents_button"),
        ("documents_button", "ok", "company_history"),
        ("company_history", "next", "company_ideology"),
        ("company_ideology", "next", "company_values"),
        ("company_values", "next", "multisensorics"),
        ("multisensorics", "next", "target_audience"),
        ("target_audience", "next", "target_audience_2"),
        ("target_audience_2", "next", "target_audience_3"),
        ("target_audience_3", "next", "target_audience_4"),
        ("target_audience_4", "next", "target_audience_5"),
        ("target_audience_5", "next", "work_conditions"),
        ("work_conditions", "next", "responsibilities"),
        ("responsibilities", "next", "motivation_program"),
        ("motivation_program", "next", "motivation_program_2"),
        ("motivation_program_2", "next", "bonuses"),
        ("bonuses", "next", "medical_books"),
        ("medical_books", "next", "training_contacts"),
        ("training_contacts", "next", "office_staff"),
        ("office_staff", "next", "office_staff_2"),
        ("office_staff_2", "next", "gemba"),
        ("gemba", "next", "office_locations"),
        ("office_locations", "next", "final_message"),
        ("final_message", "menu", "menu"),
    ];
    for (from, button, to) in chain {
        assert_eq!(d.at(), from);
        let out = d.press(button);
        assert_eq!(out.kind, OutcomeKind::Advanced, "at {from}");
        assert_eq!(d.at(), to);
        let s = sends(&out);
        assert_eq!(s.len(), 1, "one message for {to}");
        assert!(!s[0].text.is_empty() || !s[0].media.is_empty());
    }
    // The menu and a display step: one click in, any input back.
    let out = d.press("ideology");
    assert_eq!(d.at(), "menu_ideology");
    let s = sends(&out);
    assert_eq!(s[0].text, "Идеология ЧиХо");
    let ids: Vec<&str> = s[0].media.iter().map(|m| m.file_id.as_str()).collect();
    assert_eq!(ids, ["ideology_file", "video_manifest", "kinemotor_video"]);
    assert_eq!(s[0].media[1].caption.as_deref(), Some("Видео манифест"));
    let out = d.text("ок");
    assert_eq!(d.at(), "menu");
    assert_eq!(button_values(sends(&out)[0]).len(), 7);
    // Duties depend on the position chosen at registration.
    let out = d.press("duties");
    assert_eq!(sends(&out)[0].text, "Обязанности повара");
    assert_eq!(sends(&out)[0].media[0].file_id, "cook_duties");
    d.send(Input::Location {
        latitude: 55.7,
        longitude: 37.6,
    });
    assert_eq!(d.at(), "menu");
    // Support: free text, a confirmation, then any input returns to the menu.
    d.press("support");
    assert_eq!(d.at(), "menu_support");
    let out = d.text("Нужна помощь");
    assert_eq!(d.at(), "support_confirmation");
    assert_eq!(d.var("support_message"), json!("Нужна помощь"));
    assert!(texts(&out)[0].starts_with("Твое сообщение получено"));
    d.text("спасибо");
    assert_eq!(d.at(), "menu");
    assert_eq!(d.state.as_ref().map(|s| s.status), Some(DialogStatus::Active));
    let data = d
        .state
        .as_ref()
        .map(|s| Value::Object(s.data.clone()))
        .unwrap_or_default();
    assert_eq!(data["data_confirmed"], json!("yes"));
    assert_eq!(data["project"], json!("aviapark"));
}

#[test]
fn media_steps_carry_their_aliases() {
    let sc = chiho();
    let mut d = Driver::new(&sc);
    let mut state = super::super::DialogState::new("company_history");
    state.data.insert("position".into(), json!("office"));
    d.state = Some(state);
    let out = d.press("next");
    let s = sends(&out);
    assert_eq!(s[0].media[0].file_id, "video_manifest");
    assert_eq!(s[0].media[0].kind, "video");
    assert_eq!(s[0].media[0].caption.as_deref(), Some("Видео-манифест"));
}
