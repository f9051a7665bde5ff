"""The simulated centre's vocabulary and model parameters (documented in docs/simulation.md)."""

from __future__ import annotations


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

RECEIVE, RECORD, CLASSIFY, ESCALATE, HANDLE, WAIT, CALLBACK, ARCHIVE, REOPEN = range(9)
#: Activity names, verbatim the complaint SOP's step names (index = internal code).
ACTIVITIES = (
    "Receive",
    "Record",
    "Classify",
    "Escalate",
    "Handle",
    "Wait for customer",
    "Callback",
    "Archive",
    "Reopen",
)
CHANNELS = ("phone", "online chat", "email")
CATEGORIES = ("consultation", "complaint", "after-sales", "care")
EMOTIONS = ("calm", "dissatisfied", "angry", "anxious")
#: The urgent/important matrix: P1 both, P2 urgent only, P3 important only, P4 neither.
PRIORITIES = ("P1 urgent-important", "P2 urgent", "P3 important", "P4 routine")
REGIONS = ("East", "West", "North", "South")
FIRST_LINE, SPECIALIST, SUPERVISOR = "First line", "Specialist", "Supervisor"
TEAMS = (FIRST_LINE, SPECIALIST, SUPERVISOR)

_PHONE, _CHAT, _EMAIL = range(3)
_CONSULT, _COMPLAINT, _AFTERSALES, _CARE = range(4)
_CALM, _DISSATISFIED, _ANGRY, _ANXIOUS = range(4)
_FL, _SP, _SV = range(3)  # team codes
_REGION_LETTER = ("E", "W", "N", "S")
_PHASE_NAMES = ("baseline", "pilot", "rollout")
_NO_PHASE = "(no phase)"

# ---------------------------------------------------------------------------
# Model parameters (documented in docs/simulation.md)
# ---------------------------------------------------------------------------

_CHANNEL_MIX = (0.45, 0.35, 0.20)
_REGION_MIX = (0.40, 0.15, 0.25, 0.20)  # East, West, North, South
#: P(category | channel), rows phone / online chat / email.
_CATEGORY_BY_CHANNEL = (
    (0.38, 0.26, 0.26, 0.10),
    (0.50, 0.18, 0.26, 0.06),
    (0.22, 0.38, 0.30, 0.10),
)
#: P(emotion | category).
_EMOTION_BY_CATEGORY = (
    (0.70, 0.10, 0.03, 0.17),
    (0.20, 0.40, 0.25, 0.15),
    (0.45, 0.30, 0.10, 0.15),
    (0.60, 0.15, 0.05, 0.20),
)
_P_IMPORTANT = (0.15, 0.70, 0.50, 0.30)  # by category
_P_URGENT = (0.15, 0.35, 0.75, 0.60)  # by emotion
_WEEKDAY_FACTOR = (1.15, 1.05, 1.0, 1.0, 0.95, 0.45, 0.35)

_P_ESCALATE = (0.06, 0.48, 0.30, 0.12)  # by category
_P1_ESCALATE_FACTOR = 1.3
_P_SUPERVISOR_ANGRY_COMPLAINT = 0.5
_P_PING_PONG = 0.18  # of specialist escalations
_P_CUSTOMER_WAIT = 0.15
_P_SECOND_WAIT = 0.15
_P_REOPEN = 0.04
_P_REOPEN_AT_CALLBACK = 0.4
#: P(callback skipped) as (complaint, other categories), old SOP and revised SOP.
_P_SKIP_CALLBACK = {False: (0.20, 0.12), True: (0.03, 0.03)}
_KB_DOWN_FACTOR = 3.0

# Work durations: lognormal, (median minutes, sigma of log).
_RECORD_MIN = (3.0, 4.0, 5.0)  # by channel
_CLASSIFY_MIN = 2.0
_HANDLE_FL_MIN = (11.0, 24.0, 20.0, 15.0)  # by category
_HANDLE_SP_MIN = 40.0
_HANDLE_SV_MIN = 30.0
_CALLBACK_MIN = 5.0
_SIGMA_SHORT = 0.4
_SIGMA_HANDLE = 0.5
_REPLY_MEDIAN_MIN = 360.0
_REPLY_SIGMA = 0.9
_REOPEN_MEDIAN_MIN = 1.5 * 1440.0
_ARCHIVE_MEDIAN_MIN = 8.0
#: Callback scheduled this many minutes after resolution (uniform), old / revised SOP.
_CALLBACK_DELAY = {False: (15.0, 120.0), True: (10.0, 60.0)}

# Satisfaction (0-100) on Callback: base + bonus - penalties + N(0, sd).
_SAT_BASE = 90.6
_SAT_REVISED_BONUS = 5.0
_SAT_LATE = 9.0
_SAT_EMOTION = (0.0, 5.0, 11.0, 3.0)
_SAT_PING_PONG = 12.0
_SAT_SLOW = 6.0  # resolved more than 48 h after opening
_SAT_REOPEN_AT_CALLBACK = 30.0
_SAT_SECOND_ROUND = 8.0
_SAT_SD = 6.0

# Rosters: desks as (start hour, end hour) local time; each desk is one agent.
_FL_WEEKDAY = {
    "East": ((8, 14), (10, 16), (14, 20)),
    "West": ((8, 14), (14, 20)),
    "North": ((8, 14), (14, 20)),
    "South": ((8, 14), (14, 20)),
}
_FL_WEEKEND = ((8, 14), (14, 20))
#: The revised SOP's roster adds an early desk, a peak desk and a late duty desk.
_FL_REVISED_EXTRA = ((7, 8), (10, 16), (20, 23))
_SPECIALIST_DESKS = ((9, 18), (9, 18))
_SUPERVISOR_DESKS = ((9, 18),)
#: Escalations to the specialists are routed in one batch per working day, at 09:00.
_SPECIALIST_ROUTING_HOUR = 9.0
_ROSTER_TAIL_DAYS = 70

_TICKETS_PER_SITE = 3000
_FIRST_RESPONSE_LIMIT_S = 30 * 60
_DESIGNED_TIMEOUT = {"baseline": 0.15, "pilot": 0.05, "rollout": 0.055}
_DESIGNED_SATISFACTION = {"baseline": 85.0, "pilot": 90.0, "rollout": 90.0}


__all__ = [
    "ACTIVITIES",
    "ARCHIVE",
    "CALLBACK",
    "CATEGORIES",
    "CHANNELS",
    "CLASSIFY",
    "EMOTIONS",
    "ESCALATE",
    "FIRST_LINE",
    "HANDLE",
    "PRIORITIES",
    "RECEIVE",
    "RECORD",
    "REGIONS",
    "REOPEN",
    "SPECIALIST",
    "SUPERVISOR",
    "TEAMS",
    "WAIT",
]
