//! Tests for [`visible_note`]: hand-written cases per mail client and language, fixture pairs
//! under `fixtures/body/`, the public reply corpora under `fixtures/corpus/`, robustness and
//! a 5 MB timing bound.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{has_year_or_time, visible_note};

/// The one assertion every hand-written case goes through.
#[track_caller]
fn check(input: &str, expected: &str) {
    let actual = visible_note(input);
    assert_eq!(actual, expected, "\n--- input ---\n{input}\n--- note ---\n{actual}\n--- expected ---\n{expected}\n");
}

fn squash_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------------
// Plain text, edge cases
// ---------------------------------------------------------------------------------------------

#[test]
fn plain_text_is_kept_as_is() {
    check("Just a short answer.", "Just a short answer.");
    check("\n\n  Indented first line\nsecond\n\n\n", "  Indented first line\nsecond");
    check(
        "Formatting and\n\nspaces\n\n- A\n- B\n\n    - Item #1\n",
        "Formatting and\n\nspaces\n\n- A\n- B\n\n    - Item #1",
    );
}

#[test]
fn empty_and_whitespace_inputs_do_not_panic() {
    check("", "");
    check("   \n\t\n", "");
    check("\r\n\r\n", "");
    check("\r", "");
}

#[test]
fn line_endings_are_normalised() {
    check("Line one\r\nLine two\r\n\r\n> quoted\r\n", "Line one\nLine two");
    check("Line one\rLine two\r\rOn 3 Mar 2026, Bob <b@x.org> wrote:\r> old\r", "Line one\nLine two");
    check("\u{feff}With a byte order mark", "With a byte order mark");
}

#[test]
fn nothing_left_returns_trimmed_input() {
    check("> Email with only quote.\n", "> Email with only quote.");
    check("\n\n> a\n>> b\n\n", "> a\n>> b");
    check("-- \nJust a signature", "Just a signature");
}

// ---------------------------------------------------------------------------------------------
// Gmail
// ---------------------------------------------------------------------------------------------

#[test]
fn gmail_attribution_and_quote() {
    check(
        "Thanks, that works.\n\nOn Tue, 3 Mar 2026 at 10:00, Jane Doe <jane@example.com> wrote:\n\n> Does it work now?\n>\n> Jane\n",
        "Thanks, that works.",
    );
}

#[test]
fn gmail_attribution_wrapped_over_two_lines() {
    check("Sure.\n\nOn Tue, Mar 3, 2026 at 10:00 AM Jane Doe <\njane@example.com> wrote:\n\n> Can you?\n", "Sure.");
    check("Sure.\n\nOn Tue, Mar 3, 2026 at 10:00 AM, Jane Doe <jane@example.com>\nwrote:\n\n> Can you?\n", "Sure.");
    check(
        "Sure.\nOn Dec 16, 2011, at 12:47 PM, Corey Donohoe\n<reply@reply.github.com>\nwrote:\n\n> Was this caching related?\n",
        "Sure.",
    );
}

#[test]
fn gmail_unquoted_history_below_attribution() {
    // HTML-to-text conversions often lose the quote marks.
    check("This is my reply.\n\nOn Nov 26, 2013 you wrote:\n\nThis is my quote.", "This is my reply.");
}

#[test]
fn gmail_localised_attributions() {
    let cases = [
        "Am Di., 3. März 2026 um 10:00 Uhr schrieb Jane Doe <jane@example.com>:",
        "Le mar. 3 mars 2026 à 10:00, Jane Doe <jane@example.com> a écrit :",
        "El mar, 3 mar 2026 a las 10:00, Jane Doe (<jane@example.com>) escribió:",
        "Op di 3 mrt 2026 om 10:00 schreef Jane Doe <jane@example.com>:",
        "Il giorno mar 3 mar 2026 alle ore 10:00 Jane Doe <jane@example.com> ha scritto:",
        "Em ter., 3 de mar. de 2026 às 10:00, Jane Doe <jane@example.com> escreveu:",
        "Den tis 3 mars 2026 kl 10:00 skrev Jane Doe <jane@example.com>:",
        "tir. 3. mar. 2026 kl. 10:00 skrev Jane Doe <jane@example.com>:",
        "wt., 3 mar 2026 o 10:00 Jane Doe <jane@example.com> napisał(a):",
        "вт, 3 мар. 2026 г. в 10:00, Jane Doe <jane@example.com>:",
        "2026年3月3日(火) 10:00 Jane Doe <jane@example.com>:",
        "Jane Doe <jane@example.com> 于2026年3月3日周二 10:00写道：",
        "ti 3. maalisk. 2026 klo 10.00 Jane Doe (jane@example.com) kirjoitti:",
        "2026-03-03 10:00 GMT+01:00 Jane Doe <jane@example.com>:",
        "2016-03-03 17:21 GMT+01:00 Some One",
        "2026/03/03 10:00、Jane Doe <jane@example.com>のメール:",
        "On Tuesday, March 3, 2026, 10:00:00 AM GMT+1, Jane Doe <jane@example.com> wrote:",
        "Jane Doe <jane@example.com> wrote on 03.03.2026 10:00:",
    ];
    for attribution in cases {
        check(&format!("Danke!\n\n{attribution}\n\n> Alte Nachricht\n"), "Danke!");
        check(&format!("Danke!\n\n{attribution}\n\nAlte Nachricht ohne Zitatzeichen\n"), "Danke!");
    }
}

// ---------------------------------------------------------------------------------------------
// Outlook desktop, web and mobile
// ---------------------------------------------------------------------------------------------

#[test]
fn outlook_original_message_separator() {
    check(
        "Here you go.\n\n-----Original Message-----\nFrom: Jane Doe [mailto:jane@example.com]\nSent: Tuesday, March 3, 2026 10:00 AM\nTo: Bob\nSubject: Files\n\nPlease send the files.",
        "Here you go.",
    );
    check("Foo\n\n*-------- Original Message --------*\n\nTHE END.", "Foo");
}

#[test]
fn outlook_rule_and_header_block() {
    check(
        "Reply above the rule.\n________________________________\nFrom: Jane Doe <jane@example.com>\nSent: Tuesday, March 3, 2026 10:00\nTo: Bob <bob@example.com>\nSubject: RE: Printer\n\nOld text",
        "Reply above the rule.",
    );
    check(
        "Outlook with a reply\n\n\n ------------------------------\n\n*From:* Google Apps Sync Team [mailto:mail-noreply@google.com]\n*Sent:* Thursday, February 09, 2012 1:36 PM\n*To:* jow@xxxx.com\n*Subject:* Google Apps Sync was updated!\n\nDear user,",
        "Outlook with a reply",
    );
}

#[test]
fn outlook_localised_header_blocks() {
    let blocks = [
        "Von: Jane Doe <jane@example.com>\nGesendet: Dienstag, 3. März 2026 10:00\nAn: Bob\nBetreff: Drucker",
        "De : Jane Doe <jane@example.com>\nEnvoyé : mardi 3 mars 2026 10:00\nÀ : Bob\nObjet : Imprimante",
        "Van: Jane Doe <jane@example.com>\nVerzonden: dinsdag 3 maart 2026 10:00\nAan: Bob\nOnderwerp: Printer",
        "Från: Jane Doe <jane@example.com>\nSkickat: den 3 mars 2026 10:00\nTill: Bob\nÄmne: Skrivare",
        "Da: Jane Doe <jane@example.com>\nInviato: martedì 3 marzo 2026 10:00\nA: Bob\nOggetto: Stampante",
        "De: Jane Doe <jane@example.com>\nEnviado: martes, 3 de marzo de 2026 10:00\nPara: Bob\nAsunto: Impresora",
        "De: Jane Doe <jane@example.com>\nEnviado: terça-feira, 3 de março de 2026 10:00\nPara: Bob\nAssunto: Impressora",
        "Fra: Jane Doe <jane@example.com>\nSendt: 3. marts 2026 10:00\nTil: Bob\nEmne: Printer",
        "发件人: Jane Doe <jane@example.com>\n发送时间: 2026年3月3日 10:00\n收件人: Bob\n主题: 打印机",
        "差出人: Jane Doe <jane@example.com>\n送信日時: 2026年3月3日 10:00\n宛先: Bob\n件名: プリンター",
        "   De : Company<mailto:q@company.com>\n   Envoyé le :jeudi 15 décembre 2016 09:35\n   À : someone@hotmail.fr\n   Objet :Question",
    ];
    for block in blocks {
        check(&format!("Neue Antwort.\n\n{block}\n\nAlter Text\n"), "Neue Antwort.");
        check(&format!("Neue Antwort.\n\n-----Original Message-----\n{block}\n\nAlter Text\n"), "Neue Antwort.");
        check(&format!("Neue Antwort.\n________________________________\n{block}\n\nAlter Text\n"), "Neue Antwort.");
    }
}

#[test]
fn lotus_notes_and_outlook_for_mac_header_blocks() {
    check(
        "Done.\n\nFrom:\tJane Doe/ACME\nTo:\tBob Builder/ACME@ACME\nDate:\t03.03.2026 10:00\nSubject:\tRe: Keys\n\nOld",
        "Done.",
    );
    check(
        "Done.\n\nFrom: Jane Doe <jane@example.com>\nDate: Tuesday, 3 March 2026 at 10:00\nTo: Bob <bob@example.com>\nSubject: Re: Keys\n\nOld",
        "Done.",
    );
}

#[test]
fn outlook_header_value_wrapped_over_lines() {
    check(
        "Reply.\n\nFrom: Human Resources \n<a-really-long-automated-email@humanresources.com> \nSent: Monday, August 26, 2019 4:37 PM\nTo: Abhishek <a@company.com>\nSubject: New applicant\n\nOld",
        "Reply.",
    );
}

#[test]
fn outlook_web_flattened_header_line() {
    check(
        "Done, see attached.\n\nFrom: Jane Doe <jane@example.com> Sent: Tuesday, March 3, 2026 10:00 AM To: Bob Subject: Report\n\nCan you send the report?",
        "Done, see attached.",
    );
}

#[test]
fn outlook_mobile_footer() {
    check(
        "On my way.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n________________________________\nFrom: Jane\nSent: Thursday\nTo: Bob\nSubject: Hi\n\nOld",
        "On my way.",
    );
    check("Ok\n\nGet Outlook for Android", "Ok");
    check("Ok\n\nGet [Outlook for Android](https://aka.ms/ghei36)", "Ok");
    check("Ok\n\nEnvoyé à partir de Outlook pour iOS<https://aka.ms/o0ukef>\nold text", "Ok");
}

#[test]
fn header_words_in_prose_do_not_trim() {
    check(
        "I need to parse emails that come from: john@example.com\n\nThe data comes From: our database.\n\nFrom: the team\nThanks",
        "I need to parse emails that come from: john@example.com\n\nThe data comes From: our database.\n\nFrom: the team\nThanks",
    );
    // "To:" and "Subject:" alone name neither sender nor date: a memo, not a header block.
    check(
        "Draft below\n\nTo: everyone\nSubject: holidays\n\nEnjoy!",
        "Draft below\n\nTo: everyone\nSubject: holidays\n\nEnjoy!",
    );
}

// ---------------------------------------------------------------------------------------------
// Apple Mail, iOS, Thunderbird, Android
// ---------------------------------------------------------------------------------------------

#[test]
fn apple_mail_attribution_and_footer() {
    check(
        "Sounds good.\n\nSent from my iPhone\n\n> On 3 Mar 2026, at 10:00, Jane Doe <jane@example.com> wrote:\n>\n> Lunch?\n",
        "Sounds good.",
    );
    check("Sounds good.\n\nOn 3 Mar 2026, at 10:00, Jane Doe <jane@example.com> wrote:\n\n> Lunch?\n", "Sounds good.");
    check("Sounds good.\n\nSent from my iPad", "Sounds good.");
    check(
        "Thanx :-)\n\nSendt fra min iPad\n\nDen 15. jun. 2016 kl. 20.42 skrev Jeff <info@discourse.org>:\n\nOld",
        "Thanx :-)",
    );
}

#[test]
fn thunderbird_attribution() {
    check("Fixed.\n\nOn 03/03/2026 10:00, Jane Doe wrote:\n> It is broken.\n", "Fixed.");
    check("Oh thanks.\n\nOn 01/03/11 7:07 PM, Russell Brown wrote:\n> Hi,\n", "Oh thanks.");
}

#[test]
fn android_and_samsung() {
    check(
        "Will do.\n\nSent from my Samsung Galaxy smartphone.\n\n-------- Original message --------\nFrom: Jane <jane@example.com>\nDate: 03/03/2026 10:00 (GMT+01:00)\nTo: Bob\nSubject: Task\n\nPlease do it.",
        "Will do.",
    );
    check(
        "Will do.\n\n-------- Original message --------\nFrom: Jane <jane@example.com>\nDate: 03/03/2026 10:00 (GMT+01:00)\n\nPlease do it.",
        "Will do.",
    );
}

#[test]
fn forwarded_messages() {
    check(
        "FYI\n\n---------- Forwarded message ---------\nFrom: Foo <foo@example.com>\nDate: Tue, Jan 01, 2019 at 12:00 PM\nSubject: Hello\nTo: <bar@example.com>\n\nBody",
        "FYI",
    );
    check("FYI\n\n> Begin forwarded message:\n>\n> From: Foo <foo@example.com>\n> Body", "FYI");
    // Forwarded with nothing added: the forwarded text is all there is to show.
    check(
        "---------- Forwarded message ----------\nFrom: Some One <foo@bar.com>\nDate: Thu, Jan 28, 2016 at 4:00 PM\nSubject: Some subject\nTo: info@example.com\n\n\nThis is a forwarded email.",
        "This is a forwarded email.",
    );
}

// ---------------------------------------------------------------------------------------------
// Plain quoting and inline replies
// ---------------------------------------------------------------------------------------------

#[test]
fn plain_quotes_of_any_depth_after_text_are_removed() {
    check("Answer\n\n> level one\n>> level two\n>>> level three\n> > spaced\n", "Answer");
    check("Answer\n&gt; quoted in HTML entities\n", "Answer");
}

#[test]
fn quote_then_answer_without_attribution_keeps_the_excerpt() {
    check("> This is a quote.\n\nAnd this is some text.", "> This is a quote.\n\nAnd this is some text.");
}

#[test]
fn bottom_posted_answer_drops_the_attributed_earlier_message() {
    check(
        "On Mon, Aug 19, 2013 at 2:36 AM, Some One <a@example.org> wrote:\n\n> The whole earlier message.\n>\n\nwhen I said that, I meant rack",
        "when I said that, I meant rack",
    );
}

#[test]
fn inline_replies_keep_questions_and_answers() {
    check(
        "On Dec 15, 2024, at 2:00 PM, Jane Doe <jane@example.com> wrote:\n> What about A?\n\nA is great.\n\n> What about B?\n\nB has drawbacks.\n\n> Anything else?\n> Thanks, Jane\n",
        "> What about A?\n\nA is great.\n\n> What about B?\n\nB has drawbacks.",
    );
    check(
        "Hi,\nOn Tue, 2011-03-01 at 18:02 +0530, Abhishek Kona wrote:\n> How do I clear a bucket?\n\nList the keys and delete each.\n\n> \n> -Abhishek\n",
        "Hi,\n> How do I clear a bucket?\n\nList the keys and delete each.",
    );
}

#[test]
fn rewrapped_quote_lines_stay_in_the_quote() {
    check(
        "Reply.\n\nOp 12 december 2016 19:05 schreef Company <\nquestions@company.com>:\n\n> \"In efficitur augue ac tristique ullamcorper. Aenean tincidunt ornare diam,\neget accumsan est viverra quis.\"\n>\n",
        "Reply.",
    );
    // A short answer that starts a sentence is the sender's.
    check(
        "> Can you come on Tuesday at ten, or would Wednesday suit you better?\nTuesday.\n> Great.\n",
        "> Can you come on Tuesday at ten, or would Wednesday suit you better?\nTuesday.",
    );
}

// ---------------------------------------------------------------------------------------------
// Localised attributions quoted inside the history
// ---------------------------------------------------------------------------------------------

#[test]
fn localised_attribution_lines() {
    let cases = [
        ("Am 03.02.2016 3:35 nachm. schrieb Max Mustermann <noreply@example.org>:", "German"),
        ("Max Mustermann <try@example.com> schrieb am Fr., 28.\nApr. 2017 um 11:53 Uhr:", "German name first"),
        ("Le 4 janv. 2016 19:03, \"Neil Lalonde\"\n<info@example.org>\na écrit :", "French wrapped"),
        ("El jueves, 21 de noviembre de 2013, codinghorror escribió:", "Spanish"),
        ("Op 16 aug. 2014 05:13 schreef \"codinghorror\" <info@example.org> het\nvolgende geschreven:", "Dutch"),
        ("Il 26 marzo 2016 alle 13.16 Sam Saffron <info@example.org> ha scritto:", "Italian"),
        ("Em 2 de fevereiro de 2015 10:58, discourse <\ninfo@example.org> escreveu:", "Portuguese"),
        ("Den 15. jun. 2016 kl. 20.42 skrev Jeff Atwood <info@example.org>:", "Swedish/Norwegian"),
        ("Dnia 14 lip 2015 o godz. 00:25 Michael Downey <info@example.org> napisał(a):", "Polish"),
        ("W dniu 2017-01-09 11:59:39 użytkownik Company <q@company.com> napisał:", "Polish 2"),
        ("понедельник, 6 октября 2014 г. пользователь lidel написал:", "Russian"),
        ("30 серп. 2016 р. 20:45 \"Arpit\" <no-reply@example.com> пише:", "Ukrainian"),
        ("在 2016年12月12日，下午8:45，Erlend <meta@example.com> 写道：", "Chinese"),
        ("2013.02.08. 7:31 keltezéssel, \"Gyõrvári Eszter\" írta:", "Hungarian"),
        ("---- On Tue, 22 Dec 2015 14:17:36 +0530 Sam&lt;info@example.org&gt; wrote ----", "Zoho"),
        ("At 6/16/2016 08:32 PM, you wrote:", "Eudora"),
        ("Some One <info@example.org> wrote:", "name and address"),
        ("codinghorror via Discourse Meta <info@example.org> schrieb:", "via list"),
    ];
    for (attribution, language) in cases {
        let input = format!("Neue Antwort.\n\n{attribution}\n\n> old\n");
        assert_eq!(visible_note(&input), "Neue Antwort.", "{language}: {attribution}");
        let input = format!("Neue Antwort.\n{attribution}\nold, unquoted\n");
        assert_eq!(visible_note(&input), "Neue Antwort.", "{language} (unquoted history): {attribution}");
    }
}

#[test]
fn prose_that_resembles_an_attribution_is_kept() {
    let prose = [
        "On the surface, this looks like a quote header but it's not.\n\nOn the other hand, we should be careful.\nOn average, this parser works well.",
        "On your remote host you can run:\n\n     telnet 127.0.0.1 52698\n\nThis should connect.",
        "Check this: https://example.com/blog/on-date-someone-wrote-about-parsing\n\nIt handles \"wrote:\" in URLs.",
        "Here are timestamps:\n\n2024-01-15 14:30:25\n15.01.2024 14:30\nJan 15, 2024 at 14:30\n\nNot headers.",
        "One outstanding question I had:\n\nLocally, when I run it, it fails.",
        "1. Alice <alice@example.com>\n2. Bob <bob@example.com>\n\nPlease add them.",
        "Hi,\nI asked support@acme.com and they wrote:\nWe are working on it.\nAny news on your side?",
    ];
    for text in prose {
        check(text, text);
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures and footers
// ---------------------------------------------------------------------------------------------

#[test]
fn standard_signature_delimiter() {
    check("Answer.\n\n-- \nJane Doe\nACME Corp", "Answer.");
    check("Answer.\n--\nrick", "Answer.");
    check(
        "And here is a fix -- this is not a signature.\n\nkthxbai",
        "And here is a fix -- this is not a signature.\n\nkthxbai",
    );
    check("Hello,\n-- first point\n-- second point\n\nThanks!", "Hello,\n-- first point\n-- second point\n\nThanks!");
}

#[test]
fn mobile_footers() {
    let footers = [
        "Sent from my iPhone",
        "Sent from my iPad",
        "Sent from my Samsung Galaxy smartphone.",
        "Sent from my BlackBerry",
        "Sent from my Verizon Wireless BlackBerry",
        "Sent from my cell, please excuse any typos.",
        "Sent from my TI-85",
        "Sent from Outlook Mobile<https://foo.bar>",
        "Sent from [mail](https://go.microsoft.com/fwlink/?LinkId=550986) for windows 10",
        "Sent from Yahoo Mail on Android",
        "Envoyé de mon iPhone",
        "Envoyé depuis mon iPhone",
        "Von meinem iPhone gesendet",
        "Gesendet von Outlook für Android<https://aka.ms/AAb9ysg>",
        "Diese Nachricht wurde von meinem Android-Mobiltelefon mit K-9 Mail gesendet.",
        "Enviado desde mi iPhone",
        "Enviado do meu iPhone",
        "Inviato da iPhone",
        "Verzonden vanaf mijn iPhone",
        "Skickat från min iPhone",
        "Sendt fra min iPhone",
        "從我的 iPhone 傳送",
        "iPhoneから送信",
    ];
    for footer in footers {
        check(&format!("Yes.\n\n{footer}\n"), "Yes.");
        check(&format!("Yes.\n\n{footer}\n\nOld message without quote marks\n"), "Yes.");
    }
    check("Yes.\n\nSent with Airmail", "Yes.");
}

#[test]
fn sentences_that_start_like_footers_are_kept() {
    let prose = [
        "Here is another email\n\nSent from my desk, is much easier then my mobile phone.",
        "The notification was sent from my iPhone app to all users.",
        "This email was sent from our automated system, not Sent from my iPad.",
        "Inviato da Marco il documento, controlla per favore.",
        "From my understanding:\n\nthe cable is broken.",
        "From my side, everything is fine.",
    ];
    for text in prose {
        check(text, text);
    }
}

#[test]
fn trailing_rules_and_em_dash_signatures() {
    check(
        "This is not a ---------- delimiter.\n\nBut there should be no delimiter after this line\n\nᐧ\n--\n***\n####",
        "This is not a ---------- delimiter.\n\nBut there should be no delimiter after this line",
    );
    check(
        "Thanks!\n\nCheers 🎉\nSarah\n\n—————\nSarah Johnson\nProduct Manager\n📧 sarah@example.com\n",
        "Thanks!\n\nCheers 🎉\nSarah",
    );
    check("🎉\n\n—\nJohn Doe\nCEO at Pandaland\n\n@pandaland", "🎉");
    check(
        "Here is my analysis:\n\n----\n\n1. Faster\n\n----\n\nThe dashes are markdown.\n\n====\n\nAlso these.",
        "Here is my analysis:\n\n----\n\n1. Faster\n\n----\n\nThe dashes are markdown.\n\n====\n\nAlso these.",
    );
    check(
        "Reply\n\n-Abhishek Kona\n\n\n__\nriak-users mailing list\nhttp://lists.example.com",
        "Reply\n\n-Abhishek Kona",
    );
}

#[test]
fn sign_off_blocks_without_a_delimiter_are_removed() {
    check(
        "The scanner works again.\n\nBest regards,\nJohn Smith\nIT Coordinator | Example Corp\nPhone: +1 (555) 123-4567\nwww.example.com",
        "The scanner works again.",
    );
    check(
        "Der Drucker druckt wieder.\n\nMit freundlichen Grüßen\n\nJana Müller\nTel. +49 30 1234567",
        "Der Drucker druckt wieder.",
    );
    // A plain closing without contact data is the sender's own.
    check("The scanner works again.\n\nThanks,\nJohn", "The scanner works again.\n\nThanks,\nJohn");
    for closing in ["Thanks & regards,", "Many thanks,", "Sincerely,", "Mit freundlichen Grüßen / Kind regards", "Bien cordialement,", "Saludos cordiales,"] {
        check(
            &format!("It works now.\n\n{closing}\nJean-Luc O'Neill\nSenior Engineer | ACME Corp\nTel. +44 7700 900123\nwww.acme.example"),
            "It works now.",
        );
    }
    check("It works now.\n\nKind regards,\n\nJohn Smith\nACME Corp | 1 Main Street\nT +1 555 123 4567 | www.acme.example", "It works now.");
}

#[test]
fn signatures_without_closing_words_are_removed() {
    check("It works now.\n\nJohn Smith\nSenior Engineer | ACME Corp\nTel: +1 555 123 4567\nwww.acme.example", "It works now.");
    // A name, or lines with numbers that are the sender's data, stay.
    check("It works now.\n\nJohn Smith", "It works now.\n\nJohn Smith");
    check("It works now.\n\nJohn Smith\nSenior Engineer", "It works now.\n\nJohn Smith\nSenior Engineer");
    check("Details below.\n\nModel: HP LaserJet M507\nSerial: CNB1234567\nIP: 10.20.30.40", "Details below.\n\nModel: HP LaserJet M507\nSerial: CNB1234567\nIP: 10.20.30.40");
    check("It works now.\n\n----------------\n\nACME_LOGO\n\nJohn Smith\n\nt. 555-931-0702\n\nhttp://acme.example/", "It works now.");
    // What a colon announces is the sender's.
    check("Please call them:\n\nAnn Lee\nBob Stone\n+1 555 123 4567", "Please call them:\n\nAnn Lee\nBob Stone\n+1 555 123 4567");
}

#[test]
fn legal_disclaimers_are_not_the_senders_words() {
    check(
        "The invoice is attached.\n\nJohn Smith\n\nCONFIDENTIALITY NOTICE: This e-mail message, including any attachments, is for the sole use of the intended recipient(s) and may contain confidential and privileged information.",
        "The invoice is attached.\n\nJohn Smith",
    );
    check(
        "Works again, thanks.\n\nDiese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen. Wenn Sie nicht der richtige Adressat sind, informieren Sie bitte sofort den Absender.",
        "Works again, thanks.",
    );
    check(
        "It works now.\n\nBest,\nJohn Smith\nPhone +1 555 123 4567\n\nThe information contained in this communication is confidential and may be legally privileged. It is intended solely for the use of the addressee.\n\nPlease consider the environment before printing this e-mail.",
        "It works now.",
    );
    check(
        "CAUTION: This email originated from outside of the organization. Do not click links or open attachments unless you recognize the sender.\n\nIt works now.",
        "It works now.",
    );
    check(
        "It works now.\n\nThis message (including any attachments) contains confidential information intended for a specific individual and purpose, and is protected by law.",
        "It works now.",
    );
    // Prose that mentions a disclaimer, or confidential mail, is kept.
    check("Done.\n\nThe confidential report intended for the auditors is attached.", "Done.\n\nThe confidential report intended for the auditors is attached.");
    check("The disclaimer at the bottom of your letters is too long.", "The disclaimer at the bottom of your letters is too long.");
}

#[test]
fn fenced_code_is_never_trimmed() {
    let text = "Here's the code:\n\n```\n// Sent from my custom mailer\n--\n> not a quote\nFrom: a\nSent: b\n```\n\nNotice the patterns.";
    check(text, text);
    // An unpaired fence protects nothing, so a quote below it is still history.
    check("Look: ```oops\n\nOn 3 Mar 2026, Bob <b@x.org> wrote:\n> old", "Look: ```oops");
}

// ---------------------------------------------------------------------------------------------
// Fixture pairs: fixtures/body/<name>.txt and fixtures/body/<name>.expected.txt
// ---------------------------------------------------------------------------------------------

fn read_text_lossy(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

fn sorted_files_in(directory: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|entry| entry.path()).filter(|path| path.is_file()).collect();
    files.sort();
    files
}

#[test]
fn fixture_pairs_match_exactly() {
    let fixture_directory = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/body"));
    let inputs: Vec<PathBuf> = sorted_files_in(fixture_directory)
        .into_iter()
        .filter(|path| {
            let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("");
            name.ends_with(".txt") && !name.ends_with(".expected.txt")
        })
        .collect();
    assert!(!inputs.is_empty(), "no fixtures found in {}", fixture_directory.display());
    for input_path in inputs {
        let expected_path = input_path.with_extension("expected.txt");
        let input = read_text_lossy(&input_path);
        let expected = read_text_lossy(&expected_path);
        assert_eq!(visible_note(&input), expected.trim_end(), "fixture {}", input_path.display());
    }
}

// ---------------------------------------------------------------------------------------------
// Public corpora (see fixtures/corpus/MANIFEST.md)
// ---------------------------------------------------------------------------------------------

const CORPUS_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/corpus");

/// The first of the candidate sub-folders that exists. Upstream keeps these files under
/// `test/…`; this copy drops that level (despite MANIFEST.md saying the structure is
/// kept), so both layouts are accepted and a re-copy does not silently break the test.
fn corpus_directory(source_folder: &str, candidates: &[&str]) -> PathBuf {
    let source = Path::new(CORPUS_ROOT).join(source_folder);
    candidates
        .iter()
        .map(|candidate| source.join(candidate))
        .find(|path| path.is_dir())
        .unwrap_or_else(|| panic!("none of {candidates:?} exists under {}", source.display()))
}

fn text_files_in(directory: &Path) -> Vec<PathBuf> {
    sorted_files_in(directory)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|extension| extension == "txt"))
        .collect()
}

fn note_without_panicking(input: &str) -> Result<String, String> {
    std::panic::catch_unwind(|| visible_note(input)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|message| (*message).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic".to_string())
    })
}

/// What one public set with expected outputs gave: each case and whether it matched.
struct Measured {
    set: &'static str,
    results: Vec<(String, bool)>,
    /// Cases where upstream's expectation contradicts our contract, with the reason.
    disputed: &'static [(&'static str, &'static str)],
}

/// The share of exact matches each set must reach once its disputed cases are left out.
const MINIMUM_EXACT_MATCH_RATIO: f64 = 0.95;

impl Measured {
    fn is_disputed(&self, case: &str) -> bool {
        self.disputed.iter().any(|(disputed, _)| *disputed == case)
    }

    fn undisputed(&self) -> (usize, usize) {
        let undisputed: Vec<bool> = self.results.iter().filter(|(case, _)| !self.is_disputed(case)).map(|(_, matched)| *matched).collect();
        (undisputed.iter().filter(|&&matched| matched).count(), undisputed.len())
    }

    fn summary(&self) -> String {
        let matched = self.results.iter().filter(|(_, matched)| *matched).count();
        let (undisputed_matched, undisputed) = self.undisputed();
        let misses: Vec<&str> = self.results.iter().filter(|(_, matched)| !matched).map(|(case, _)| case.as_str()).collect();
        format!(
            "{}: {matched}/{} exact ({:.1} %), {undisputed_matched}/{undisputed} where upstream is not disputed; misses {misses:?}",
            self.set,
            self.results.len(),
            100.0 * matched as f64 / self.results.len().max(1) as f64
        )
    }
}

/// Measured: 62 of 64. Both misses are disputed.
const DISCOURSE_DISPUTED: &[(&str, &str)] = &[
    ("spam_1.txt", "nothing but nested quotes: upstream expects an empty note, our contract returns the trimmed input"),
    ("embedded_email_1.txt", "two lines written below a quote, which upstream drops as a probable signature; they are the sender's words"),
];

/// The expected reply text of `emails/NAME` is `trimmed/NAME`, after whitespace normalisation.
fn discourse_trimmed() -> Measured {
    let inputs_directory = corpus_directory("discourse-email_reply_trimmer", &["test/emails", "emails"]);
    let expected_directory = inputs_directory.parent().expect("has a parent").join("trimmed");
    let mut results = Vec::new();
    for input_path in text_files_in(&inputs_directory) {
        let name = input_path.file_name().expect("file name").to_string_lossy().into_owned();
        let Ok(expected) = std::fs::read(expected_directory.join(&name)) else { continue };
        let note = note_without_panicking(&read_text_lossy(&input_path)).unwrap_or_else(|message| panic!("{name}: {message}"));
        results.push((name, squash_whitespace(&note) == squash_whitespace(&String::from_utf8_lossy(&expected))));
    }
    Measured { set: "discourse trimmed", results, disputed: DISCOURSE_DISPUTED }
}

/// Measured: 10 of 10. A message with an embedded (forwarded or original) message splits
/// into `before/NAME`, what the sender wrote, and `embedded/NAME`, the header block and the
/// embedded text: [`super::super::forward::read`] must give the same two parts.
fn discourse_embedded_messages() -> Measured {
    let before_directory = corpus_directory("discourse-email_reply_trimmer", &["test/before", "before"]);
    let source = before_directory.parent().expect("has a parent");
    let mut results = Vec::new();
    for before_path in text_files_in(&before_directory) {
        let name = before_path.file_name().expect("file name").to_string_lossy().into_owned();
        let input = read_text_lossy(&source.join("emails").join(&name));
        let embedded = squash_whitespace(&read_text_lossy(&source.join("embedded").join(&name)));
        let matched = super::super::forward::read(&input).is_some_and(|forwarded| {
            squash_whitespace(&forwarded.forwarder_text) == squash_whitespace(&read_text_lossy(&before_path))
                && !forwarded.text.is_empty()
                && embedded.ends_with(&squash_whitespace(&forwarded.text))
        });
        results.push((name, matched));
    }
    Measured { set: "discourse embedded messages", results, disputed: &[] }
}

/// Measured: 4 of 6. A body and its signature (`stripped/NAME_body`, `NAME_signature`;
/// `#sig#` marks the signature lines inside the body of one case): the note is the body
/// without the signature.
const TALON_SIGNATURES_DISPUTED: &[(&str, &str)] = &[
    ("jeff", "\"Stavros Xxxxxx / via mobile\": a name alone is the sender's own, as in \"Thanks, John\""),
    ("short_url", "\"Thank you, / Noam\": a plain closing without contact data is the sender's own"),
];

fn talon_signatures() -> Measured {
    let directory = corpus_directory("mailgun-talon", &["tests/fixtures/signature/emails/stripped", "signature/emails/stripped"]);
    let unmarked = |text: String| text.lines().map(|line| line.strip_prefix("#sig#").unwrap_or(line)).collect::<Vec<_>>().join("\n");
    let mut results = Vec::new();
    for body_path in sorted_files_in(&directory) {
        let file_name = body_path.file_name().expect("file name").to_string_lossy().into_owned();
        let Some(name) = file_name.strip_suffix("_body") else { continue };
        let body = unmarked(read_text_lossy(&body_path));
        let signature = unmarked(read_text_lossy(&directory.join(format!("{name}_signature"))));
        let expected = body.trim_end().strip_suffix(signature.trim_end()).unwrap_or(&body).to_string();
        results.push((name.to_string(), squash_whitespace(&visible_note(&body)) == squash_whitespace(&expected)));
    }
    Measured { set: "talon signatures", results, disputed: TALON_SIGNATURES_DISPUTED }
}

/// Measured: 2 of 2. Talon's two expected replies keep the signature ("Sent from my iPhone",
/// a `-- ` block with "Sent with Sparrow"), which our contract removes; upstream's text
/// without those lines is what we must give.
fn talon_replies() -> Measured {
    let directory = corpus_directory("mailgun-talon", &["tests/fixtures/standard_replies", "standard_replies"]);
    let cases = [("iphone.eml", "iphone_reply_text", "Sent from my iPhone"), ("sparrow.eml", "sparrow_reply_text", "-- ")];
    let results = cases
        .into_iter()
        .map(|(message, expected, signature_start)| {
            let raw = std::fs::read(directory.join(message)).expect("talon message");
            let mail = crate::parse::parse(&raw, &Default::default()).expect("talon message parses");
            let upstream = read_text_lossy(&directory.join(expected));
            let without_signature = upstream.split(signature_start).next().unwrap_or("").trim_end().to_string();
            (message.to_string(), squash_whitespace(&visible_note(&mail.text)) == squash_whitespace(&without_signature))
        })
        .collect();
    Measured { set: "talon replies", results, disputed: &[] }
}

/// Every set in `fixtures/corpus` that comes with expected outputs. github and crisp keep
/// theirs in test code, not in files, so they are only read for robustness below.
#[test]
fn public_corpora_match_their_expected_outputs() {
    let sets = [discourse_trimmed(), discourse_embedded_messages(), talon_signatures(), talon_replies()];
    for measured in &sets {
        eprintln!("{}", measured.summary());
        for (case, reason) in measured.disputed {
            eprintln!("    disputed {case}: {reason}");
        }
    }
    for measured in &sets {
        let (matched, undisputed) = measured.undisputed();
        assert!(undisputed > 0, "{}: no cases read", measured.set);
        assert!(matched as f64 / undisputed as f64 >= MINIMUM_EXACT_MATCH_RATIO, "{}", measured.summary());
    }
}

#[test]
fn github_and_crisp_corpora_never_panic_and_never_come_back_empty() {
    let directories = [
        corpus_directory("github-email_reply_parser", &["test/emails", "."]),
        corpus_directory("crisp-email-reply-parser", &["test/fixtures", "."]),
    ];
    let mut files_read = 0;
    for directory in &directories {
        for path in text_files_in(directory) {
            files_read += 1;
            let input = read_text_lossy(&path);
            let note = note_without_panicking(&input).unwrap_or_else(|message| panic!("{}: {message}", path.display()));
            if !input.trim().is_empty() {
                assert!(!note.trim().is_empty(), "{} produced an empty note", path.display());
            }
        }
    }
    assert!(files_read > 0, "no corpus files read from {directories:?}");
}

// ---------------------------------------------------------------------------------------------
// Robustness and time
// ---------------------------------------------------------------------------------------------

#[test]
fn odd_inputs_do_not_panic() {
    let long_line = "x".repeat(300_000);
    let long_quote = format!("> {}", "é".repeat(200_000));
    let odd_inputs = [
        "\u{fffd}\u{fffd}\u{fffd}".to_string(),
        "\r\r\r\n\n\r".to_string(),
        ">".repeat(10_000),
        long_line.clone(),
        format!("Hi\n{long_quote}\nOk"),
        format!("On {long_line} wrote:\n> x"),
        "On\nOn\nOn\nOn\nOn\nOn\nwrote:".to_string(),
        "From:\nSent:\nTo:\nSubject:".to_string(),
        "Richard>\nC>\n>\n-- \n__\n—".to_string(),
        "```\n```\n```".to_string(),
        "<<<<\n>>>>\n[[[](((\n<mailto:".to_string(),
        "在\n於\n于写道：".to_string(),
    ];
    for input in odd_inputs {
        let _ = visible_note(&input);
    }
}

#[test]
fn generated_inputs_do_not_panic() {
    // A small deterministic generator over the fragments the detectors care about.
    let fragments = [
        "On 3 Mar 2026, Bob <b@x.org>",
        "wrote:",
        "> ",
        ">> ",
        "-- ",
        "--",
        "____",
        "From: a",
        "Sent: 1",
        "To: b",
        "Subject: c",
        "Sent from my iPhone",
        "-----Original Message-----",
        "```",
        "\r\n",
        "\n",
        "\r",
        " ",
        "é",
        "写道：",
        "schrieb",
        "<",
        ">",
        ":",
        "2016-03-03 17:21 GMT+01:00 X",
        "—",
        "ᐧ",
        "text",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..2000 {
        let mut input = String::new();
        for _ in 0..(state % 40) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            input.push_str(fragments[(state % fragments.len() as u64) as usize]);
        }
        let _ = visible_note(&input);
    }
}

const FIVE_MEGABYTES: usize = 5 * 1024 * 1024;

fn repeat_to_size(unit: &str, target_bytes: usize) -> String {
    unit.repeat(target_bytes / unit.len() + 1)
}

#[test]
fn five_megabytes_of_reply_are_processed_quickly() {
    // Debug builds run everything (the regex engine included) unoptimised, about ten times
    // slower; the one-second bound is the release one. Measured in release: under 0.1 s.
    let limit = if cfg!(debug_assertions) { Duration::from_secs(15) } else { Duration::from_secs(1) };
    let realistic_thread = "Thanks for the quick answer, the printer on the second floor works again.\n\
        On Tue, 3 Mar 2026 at 10:00, Jane Doe <jane@example.com> wrote:\n\
        > Could you check the printer?\n> It says PC LOAD LETTER.\n\nI checked it: paper was jammed.\n\n";
    let bodies = [
        ("realistic interleaved thread", repeat_to_size(realistic_thread, FIVE_MEGABYTES)),
        (
            "short answer above a long quote",
            format!("Short answer.\n\n{}", repeat_to_size("> quoted line of history\n", FIVE_MEGABYTES)),
        ),
        ("one long line", "word ".repeat(FIVE_MEGABYTES / 5)),
    ];
    for (description, body) in bodies {
        let started = Instant::now();
        let note = visible_note(&body);
        let elapsed = started.elapsed();
        eprintln!("{description}: {} bytes in {elapsed:?} ({} bytes of note)", body.len(), note.len());
        assert!(elapsed < limit, "{description}: {elapsed:?}");
    }
}

#[test]
fn adversarial_line_shapes_stay_linear() {
    // Every line here wakes a detector (a possible attribution end, a header label); in
    // release 5 MB of them take at most 0.4 s. Debug builds get 1 MB so the suite stays fast.
    let (target_bytes, limit) = if cfg!(debug_assertions) {
        (FIVE_MEGABYTES / 5, Duration::from_secs(15))
    } else {
        (FIVE_MEGABYTES, Duration::from_secs(1))
    };
    let shapes = [
        ("attribution look-alikes", "On 1 Mar 2026 Bob <b@x.org> said something:\n"),
        ("header look-alikes", "From: a\nTo: b\n"),
        ("colon-ended short lines", "x:\n"),
        ("nested quote markers", ">>>>>>>>>>>>>>>>>>>>\n"),
        ("footer look-alikes", "Sent from my iPhone\n"),
    ];
    for (description, unit) in shapes {
        let body = repeat_to_size(unit, target_bytes);
        let started = Instant::now();
        let _ = visible_note(&body);
        let elapsed = started.elapsed();
        eprintln!("{description}: {} bytes in {elapsed:?}", body.len());
        assert!(elapsed < limit, "{description}: {elapsed:?}");
    }
}

#[test]
fn years_times_and_dates_are_seen() {
    for text in ["on 3 may 2016, ann wrote:", "2016", "at 9:05", "um 17.21 uhr", "à 9h05", "3/4/16", "2016-03-04", "04.03.2016"] {
        assert!(has_year_or_time(text), "{text}");
    }
    for text in ["ann wrote:", "12016", "20165", "call 555-1234", "1-234-5", "9:5", "room 1999a"] {
        assert_eq!(has_year_or_time(text), text == "room 1999a", "{text}");
    }
}
