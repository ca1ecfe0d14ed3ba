"""The network operators of the sample district and their (made-up) contacts for enquiries.

The operator names are those of :data:`ingest.synthetic.networks.NETWORKS`; every contact is
fictitious. Telephone numbers come from the range the Bundesnetzagentur keeps free for media
productions ("drama numbers": Berlin, +49 30 23125 000 to 999, never assigned to anyone;
Mitteilung Nr. 148/2021, Amtsblatt 7/2021, p. 489); e-mail and web addresses lie under
``example.org``, reserved for examples by RFC 2606 § 3.
"""

from __future__ import annotations

import pandas as pd

from ingest.synthetic.networks import NETWORKS

#: the columns of the operators table, in order
COLUMNS = ("operator", "department", "phone", "email", "emergency_phone", "web")
#: the fictitious telephone range (Bundesnetzagentur drama numbers, Berlin)
PHONE_RANGE = "+49 30 23125"

#: operator -> (department, web domain under example.org, first three-digit extension)
_CONTACTS = {
    "Stadtwerke Klagenfurt \u2013 Wasser": ("Leitungsauskunft Wasser", "stw-wasser", 110),
    "Stadtwerke Klagenfurt \u2013 Kanal": ("Leitungsauskunft Kanal", "stw-kanal", 120),
    "Energie Klagenfurt \u2013 Gas": ("Planauskunft Gasnetz", "energie-gas", 130),
    "Energie Klagenfurt \u2013 Fernwärme": ("Planauskunft Fernwärme", "energie-fernwaerme", 140),
    "KNG-Kärnten Netz": ("Leitungsauskunft Strom", "kng-netz", 150),
    "A1 Telekom Austria": ("Trassenauskunft", "a1-trassen", 160),
    "Magenta Telekom": ("Trassenauskunft", "magenta-trassen", 170),
}


def operator_table() -> pd.DataFrame:
    """One row per operator of the sample's networks, with its contacts for line enquiries.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`, in the order the networks first name the operators.

    Examples
    --------
    >>> table = operator_table()
    >>> len(table), table["operator"].is_unique
    (7, True)
    >>> table.iloc[0]["phone"], table.iloc[0]["emergency_phone"]
    ('+49 30 23125 110', '+49 30 23125 119')
    """
    rows = []
    for name in dict.fromkeys(net.operator for net in NETWORKS):
        department, domain, extension = _CONTACTS[name]
        host = f"{domain}.example.org"
        rows.append(
            (
                name,
                department,
                f"{PHONE_RANGE} {extension}",
                f"leitungsauskunft@{host}",
                f"{PHONE_RANGE} {extension + 9}",
                f"https://{host}/leitungsauskunft",
            )
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))
