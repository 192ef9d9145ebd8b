"""Masking of personal data for lists and the API (CONVENTIONS.md): `张*`, `138****8000`,
`1101**********1234`. Revealing the real value is an audited action (services.pii_reveal)."""


def mask_name(name):
    name = (name or "").strip()
    if not name:
        return ""
    if " " in name:  # Latin names: keep the first letter of each part
        return " ".join(part[0] + "*" * (len(part) - 1) for part in name.split())
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_phone(phone):
    digits = (phone or "").strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_national_id(value):
    value = (value or "").strip()
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_email(value):
    value = (value or "").strip()
    if "@" not in value:
        return "*" * len(value)
    local, domain = value.split("@", 1)
    return (local[:1] + "***@" + domain) if local else "***@" + domain


def mask_address(value):
    value = (value or "").strip()
    if not value:
        return ""
    keep = min(6, max(len(value) // 3, 1))
    return value[:keep] + "****"
