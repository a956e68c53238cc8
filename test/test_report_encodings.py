#!/usr/bin/python3
"""The reports in databases that are not UTF-8: LATIN1, EUC_JP and WIN1252 databases
(their text converted to UTF-8 for the page, a character Unicode lacks shown as
U+FFFD) and a SQL_ASCII one (bytes of no known
encoding: UTF-8 sequences kept, other bytes shown as U+FFFD). Either way the
page is built, is ASCII (every non-ASCII character a reference), and is
well-formed XML; text cells are clipped by characters, not bytes."""
import re
import xml.etree.ElementTree as ET

import psycopg2

from mlops_test import check, finish, fresh_database, query


def check_page(page, what):
    """The page is ASCII and well-formed XML."""
    check(all(ord(c) < 0x7f for c in page), f"{what}: the page is ASCII")
    try:
        ET.fromstring(page.removeprefix("<!DOCTYPE html>\n"))
        check(True, f"{what}: the page is well-formed XML")
    except ET.ParseError as e:
        check(False, f"{what}: the page is well-formed XML ({e})")


def experiment_page(conn, experiment, run_name, params, metric):
    """The report of an experiment of one run with these params and a metric logged at three steps."""
    run = query(conn, "SELECT mlops.start_run(%s, %s, %s)", (experiment, run_name, params))[0][0]
    query(conn, "SELECT mlops.log_metric(%s, %s, i, i) FROM generate_series(1, 3) i", (run, metric))
    query(conn, "SELECT mlops.end_run(%s)", (run,))
    return query(conn, "SELECT mlops.report_experiment(%s)", (experiment,))[0][0]


# LATIN1: é and ÿ are one byte each in the database, references on the page.
conn = fresh_database("test_report_encodings_latin1", datasets=False, encoding="LATIN1")
conn.set_client_encoding("UTF8")
page = experiment_page(conn, "café ÿ <x>", "ré", '{"long": "' + "é" * 300 + '"}', "mé")
check_page(page, "LATIN1")
check("<h1>Experiment caf&#xE9; &#xFF; &lt;x&gt;</h1>" in page, "LATIN1: the experiment name is converted and escaped")
check("<figcaption>m&#xE9;</figcaption>" in page, "LATIN1: the metric key captions its history chart")
cell = re.search(r"<th>long</th><td[^>]*>([^<]*)</td>", page)
check(cell is not None and cell.group(1) == "&#xE9;" * 200 + "&#x2026;",
      "LATIN1: a long param is clipped to 200 characters")
conn.close()

# SQL_ASCII: bytes that are not UTF-8 (0xff, 0xfe, a sequence cut short) become U+FFFD one by one;
# UTF-8 sequences are read as the characters they encode. Converting them raised 22021 and failed the page.
conn = fresh_database("test_report_encodings_sql_ascii", datasets=False, encoding="SQL_ASCII")
run = query(conn, r"SELECT mlops.start_run(E'bad\xff\xfe <x>', E'caf\xc3\xa9 \xc3')")[0][0]
query(conn, r"SELECT mlops.log_metric(%s, E'm\xe2\x82', i, i) FROM generate_series(1, 3) i", (run,))
query(conn, r"SELECT mlops.log_param(%s, 'short', repeat(E'\xc3\xa9', 150)), "
            r"mlops.log_param(%s, 'long', repeat(E'\xc3\xa9', 300))", (run, run))
query(conn, "SELECT mlops.end_run(%s)", (run,))
page = query(conn, r"SELECT mlops.report_experiment(E'bad\xff\xfe <x>')")[0][0]
check_page(page, "SQL_ASCII")
# clipped by the characters the page shows, not by bytes: 150 two-byte characters are not clipped
for key, shown in (("short", "&#xE9;" * 150), ("long", "&#xE9;" * 200 + "&#x2026;")):
    cell = re.search(rf"<th>{key}</th><td[^>]*>([^<]*)</td>", page)
    check(cell is not None and cell.group(1) == shown,
          f"SQL_ASCII: param {key} is clipped by characters (200), not by bytes")
check("<h1>Experiment bad&#xFFFD;&#xFFFD; &lt;x&gt;</h1>" in page, "SQL_ASCII: bytes that are not UTF-8 are U+FFFD")
check("caf&#xE9; &#xFFFD; (#" in page, "SQL_ASCII: a UTF-8 sequence is its character, a cut one U+FFFD")
check("<figcaption>m&#xFFFD;&#xFFFD;</figcaption>" in page, "SQL_ASCII: the metric key captions its history chart")
conn.close()

# EUC_JP: the extension installs (its script had UTF-8 characters in comments, bytes that are not
# EUC_JP: CREATE EXTENSION failed with 22021), and Japanese names are character references on the page.
try:
    conn = fresh_database("test_report_encodings_euc_jp", datasets=False, encoding="EUC_JP")
    check(True, "EUC_JP: the extension installs")
except psycopg2.Error as e:
    check(False, f"EUC_JP: the extension installs ({e.pgcode}: {e.pgerror})")
    finish()
conn.set_client_encoding("UTF8")
page = experiment_page(conn, "実験 <x>", "走る", '{"キー": "値"}', "精度")
check_page(page, "EUC_JP")
check("<h1>Experiment &#x5B9F;&#x9A13; &lt;x&gt;</h1>" in page, "EUC_JP: the experiment name is converted and escaped")
check("<figcaption>&#x7CBE;&#x5EA6;</figcaption>" in page, "EUC_JP: the metric key captions its history chart")
# a character of EUC_JP's user-defined area (0xf5a1) has no Unicode equivalent: U+FFFD, as in WIN1252 below
conn.set_client_encoding("EUC_JP")
run = query(conn, r"SELECT mlops.start_run(convert_from('\x61f5a1'::bytea, 'EUC_JP'), 'x')")[0][0]
page = query(conn, r"SELECT mlops.report_experiment(convert_from('\x61f5a1'::bytea, 'EUC_JP'))")[0][0]
check_page(page, "EUC_JP, user-defined character")
check("<h1>Experiment a&#xFFFD;</h1>" in page, "EUC_JP: a user-defined character is U+FFFD")
conn.close()

# WIN1252: five bytes (0x81, 0x8d, 0x8f, 0x90, 0x9d) are characters of the database that Unicode
# lacks. Each is U+FFFD, the characters around it converted; the page failed with 22P05.
conn = fresh_database("test_report_encodings_win1252", datasets=False, encoding="WIN1252")
conn.set_client_encoding("WIN1252")
run = query(conn, r"SELECT mlops.start_run(convert_from('\x6281e9', 'WIN1252'), 'caf' || convert_from('\xe9', 'WIN1252'))")[0][0]
query(conn, r"SELECT mlops.log_param(%s, 'long', repeat(convert_from('\x8de9', 'WIN1252'), 150))", (run,))
query(conn, "SELECT mlops.end_run(%s)", (run,))
page = query(conn, r"SELECT mlops.report_experiment(convert_from('\x6281e9', 'WIN1252'))")[0][0]
check_page(page, "WIN1252")
check("<h1>Experiment b&#xFFFD;&#xE9;</h1>" in page, "WIN1252: a byte Unicode lacks is U+FFFD, the others converted")
cell = re.search(r"<th>long</th><td[^>]*>([^<]*)</td>", page)
check(cell is not None and cell.group(1) == "&#xFFFD;&#xE9;" * 100 + "&#x2026;",
      "WIN1252: a param of such bytes is clipped to 200 characters")
conn.close()

finish()
