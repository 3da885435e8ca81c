"""Keyed, per-patient consistent surrogates."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime

import pytest

from cliniloop.models.text.deid.surrogates import SurrogateGenerator

SECRET = b"test-secret"


@pytest.fixture
def gen() -> SurrogateGenerator:
    return SurrogateGenerator(SECRET, "patient-1")


SAMPLES = [
    ("NAME", "John Smith"),
    ("DATE", "03/04/2021"),
    ("PHONE", "(617) 555-1234"),
    ("FAX", "617-555-9876"),
    ("EMAIL", "john.smith@gmail.com"),
    ("SSN", "123-45-6789"),
    ("MRN", "MRN 00123456"),
    ("ACCOUNT", "AC-778812"),
    ("HEALTH_PLAN", "XKB123456789"),
    ("LICENSE", "S12345678"),
    ("DEVICE_ID", "SN 4XJ-99812"),
    ("VEHICLE_ID", "1HGCM82633A004352"),
    ("URL", "https://www.mychart.example-hospital.com/patient/12345"),
    ("IP_ADDRESS", "10.20.30.40"),
    ("LOCATION", "123 Main Street, Boston, MA 02115"),
]


def test_deterministic(gen: SurrogateGenerator) -> None:
    again = SurrogateGenerator(SECRET, "patient-1")
    for phi_type, original in SAMPLES:
        assert gen.surrogate(phi_type, original) == again.surrogate(phi_type, original)
    assert gen.date_shift_days == again.date_shift_days


@pytest.mark.parametrize(("phi_type", "original"), SAMPLES)
def test_never_returns_original(gen: SurrogateGenerator, phi_type: str, original: str) -> None:
    out = gen.surrogate(phi_type, original)
    assert out.casefold() != original.casefold()
    assert out


def test_other_patient_or_secret_differs(gen: SurrogateGenerator) -> None:
    other_patient = SurrogateGenerator(SECRET, "patient-2")
    other_secret = SurrogateGenerator(b"another-secret", "patient-1")
    for other in (other_patient, other_secret):
        outs = [gen.surrogate(t, o) for t, o in SAMPLES]
        assert all(a != other.surrogate(t, o) for a, (t, o) in zip(outs, SAMPLES, strict=True))
        assert other.surrogate("NAME", "Smith") != gen.surrogate("NAME", "Smith")


def test_name_consistent_across_forms(gen: SurrogateGenerator) -> None:
    full = gen.surrogate("NAME", "John Smith")
    first, last = full.split(" ")
    assert first[0].isupper() and last[0].isupper()
    assert gen.surrogate("NAME", "Mr. Smith") == f"Mr. {last}"
    assert gen.surrogate("NAME", "SMITH, JOHN") == f"{last.upper()}, {first.upper()}"
    assert gen.surrogate("NAME", "smith") == last.lower()
    assert gen.surrogate("NAME", "Smith") == last
    assert gen.surrogate("NAME", "john") == first.lower()
    j_smith = gen.surrogate("NAME", "J. Smith")
    assert re.fullmatch(rf"[A-Z]\. {last}", j_smith) and not j_smith.startswith("J")
    assert gen.surrogate("NAME", "Dr. Smith-Jones Jr.").startswith("Dr. " + last + "-")


def test_name_case_and_accents(gen: SurrogateGenerator) -> None:
    assert gen.surrogate("NAME", "JOHN").isupper()
    assert gen.surrogate("NAME", "josé") == gen.surrogate("NAME", "Jose").lower()


def test_date_shift(gen: SurrogateGenerator) -> None:
    shift = gen.date_shift_days
    assert -365 <= shift <= -30
    out = gen.surrogate("DATE", "03/04/2021")
    assert (datetime.strptime(out, "%m/%d/%Y") - datetime(2021, 3, 4)).days == shift
    later = datetime.strptime(gen.surrogate("DATE", "April 8, 2021"), "%B %d, %Y")
    assert (later - datetime.strptime(out, "%m/%d/%Y")).days == 35
    narrow = SurrogateGenerator(SECRET, "p", min_shift_days=-3, max_shift_days=3)
    assert narrow.date_shift_days in {-3, -2, -1, 1, 2, 3}
    assert narrow.surrogate("DATE", "2021") != "2021"
    with pytest.raises(ValueError):
        SurrogateGenerator(SECRET, "p", min_shift_days=0, max_shift_days=0)


def test_unreadable_date_keeps_layout(gen: SurrogateGenerator) -> None:
    out = gen.surrogate("DATE", "March 99th")
    assert re.fullmatch(r"[A-Z][a-z]+ \d\dth", out)
    assert not out.startswith("March")


def test_age(gen: SurrogateGenerator) -> None:
    assert gen.surrogate("AGE", "92") == "90+"
    assert gen.surrogate("AGE", "104") == "90+"


def test_phone_shape(gen: SurrogateGenerator) -> None:
    out = gen.surrogate("PHONE", "(617) 555-1234")
    assert re.fullmatch(r"\([2-9]\d\d\) 555-01\d\d", out)
    assert gen.surrogate("PHONE", "617.555.1234") == out.replace("(", "").replace(") ", ".").replace("-", ".")
    plus = gen.surrogate("PHONE", "+1 617-555-1234 x204")
    assert re.fullmatch(r"\+1 [2-9]\d\d-555-01\d\d x\d{3}", plus)
    assert plus[3:15] == out[1:4] + "-" + out[6:]


def test_ssn_starts_with_nine(gen: SurrogateGenerator) -> None:
    for original in ("123-45-6789", "987654321", "078-05-1120"):
        out = gen.surrogate("SSN", original)
        assert out[0] == "9"
        assert re.sub(r"\d", "0", out) == re.sub(r"\d", "0", original)


def test_identifier_shape(gen: SurrogateGenerator) -> None:
    out = gen.surrogate("VEHICLE_ID", "1HGCM82633A004352")
    assert re.sub(r"[A-Z]", "A", re.sub(r"\d", "0", out)) == "0AAAA00000A000000"
    assert gen.surrogate("MRN", "123-456").replace("-", "") == gen.surrogate("MRN", "123456")


def test_email_url_ip_reserved(gen: SurrogateGenerator) -> None:
    email = gen.surrogate("EMAIL", "john.smith@gmail.com")
    local, domain = email.split("@")
    assert domain in {"example.org", "example.com", "example.net"}
    first, last = gen.surrogate("NAME", "john smith").split(" ")
    assert local == f"{first}.{last}"
    url = gen.surrogate("URL", "https://www.mychart.example-hospital.com/patient/12345")
    assert re.fullmatch(r"https://www\.[a-z]+\.example\.org/[a-z]{7}/\d{5}", url)
    ip = ipaddress.ip_address(gen.surrogate("IP_ADDRESS", "10.20.30.40"))
    assert any(ip in ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
    ip6 = ipaddress.ip_address(gen.surrogate("IP_ADDRESS", "fe80::1ff:fe23:4567:890a"))
    assert ip6 in ipaddress.ip_network("2001:db8::/32")


def test_location(gen: SurrogateGenerator) -> None:
    assert re.fullmatch(r"\d{5}", gen.surrogate("LOCATION", "02115"))
    assert re.fullmatch(r"\d{5}-\d{4}", gen.surrogate("LOCATION", "02115-1234"))
    city = gen.surrogate("LOCATION", "Boston")
    address = gen.surrogate("LOCATION", "123 Main Street, Boston, MA 02115")
    street, town, state_zip = address.split(", ")
    assert re.match(r"\d+ \S", street) and "Main" not in street
    assert town == city
    assert re.fullmatch(r"MA \d{5}", state_zip) and state_zip != "MA 02115"
    assert gen.surrogate("LOCATION", "SUFFOLK COUNTY").endswith(" COUNTY")
    assert gen.surrogate("LOCATION", "SUFFOLK COUNTY").isupper()
    assert re.fullmatch(r"Apt \d[A-Z]", gen.surrogate("LOCATION", "Apt 4B"))


def test_unknown_type(gen: SurrogateGenerator) -> None:
    with pytest.raises(ValueError, match="unknown identifier type"):
        gen.surrogate("PASSWORD", "hunter2")


def test_nothing_to_replace(gen: SurrogateGenerator) -> None:
    assert gen.surrogate("MRN", "--") == "--"
