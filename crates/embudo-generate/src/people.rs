//! People: where visitors live (markets chosen by the shop's currency), what they browse on,
//! and the fixed profiles of known customers and anonymous visitors.
//!
//! Profiles are never stored: each is re-derived from its own random stream
//! (`seed`, kind, index) whenever it is needed, so memory holds only a few counters per
//! customer. All contact data is fictional: emails use `example.com`/`.org`/`.net`, IP
//! addresses come from the documentation ranges (RFC 5737), phone numbers from ranges
//! reserved for fiction where one exists (`555-01xx`, `07700 900xxx`) or a `555` block
//! elsewhere.

use crate::rng::{rng_for, Cdf, RngExt, Stream};
use embudo_core::{Currency, CustomerType};
use rand::Rng;
use std::fmt::Write;

/// A country the shop sells to.
#[derive(Debug)]
pub(crate) struct Country {
    /// Name, as written into `location.country` and address traits.
    pub(crate) name: &'static str,
    /// ISO 3166 alpha-2 code (tracking numbers).
    pub(crate) iso: &'static str,
    /// Browser locale.
    pub(crate) locale: &'static str,
    /// Hours ahead of UTC (shifts the shopping-hours curve).
    pub(crate) utc_offset: i32,
    /// Sales tax or VAT in basis points, added at checkout.
    pub(crate) tax_bp: i64,
    /// Cities, biggest first.
    pub(crate) cities: &'static [&'static str],
    /// International dialling prefix.
    pub(crate) dial: &'static str,
    /// Parcel carriers.
    pub(crate) carriers: &'static [&'static str],
}

macro_rules! country {
    ($name:literal, $iso:literal, $locale:literal, $off:literal, $tax:literal, $dial:literal, [$($c:literal),*], [$($k:literal),*]) => {
        Country { name: $name, iso: $iso, locale: $locale, utc_offset: $off, tax_bp: $tax, dial: $dial, cities: &[$($c),*], carriers: &[$($k),*] }
    };
}

static GERMANY: Country = country!(
    "Germany",
    "DE",
    "de-DE",
    1,
    1900,
    "+49",
    [
        "Berlin",
        "Hamburg",
        "Munich",
        "Cologne",
        "Frankfurt",
        "Stuttgart",
        "Leipzig",
        "Dresden",
        "Freiburg"
    ],
    ["DHL", "DPD", "Hermes", "GLS"]
);
static FRANCE: Country = country!(
    "France",
    "FR",
    "fr-FR",
    1,
    2000,
    "+33",
    [
        "Paris",
        "Lyon",
        "Marseille",
        "Toulouse",
        "Lille",
        "Bordeaux",
        "Nantes",
        "Strasbourg"
    ],
    ["Colissimo", "Chronopost", "DPD"]
);
static NETHERLANDS: Country = country!(
    "Netherlands",
    "NL",
    "nl-NL",
    1,
    2100,
    "+31",
    [
        "Amsterdam",
        "Rotterdam",
        "Utrecht",
        "The Hague",
        "Eindhoven",
        "Groningen"
    ],
    ["PostNL", "DHL"]
);
static SPAIN: Country = country!(
    "Spain",
    "ES",
    "es-ES",
    1,
    2100,
    "+34",
    [
        "Madrid",
        "Barcelona",
        "Valencia",
        "Seville",
        "Bilbao",
        "Malaga"
    ],
    ["Correos", "SEUR"]
);
static ITALY: Country = country!(
    "Italy",
    "IT",
    "it-IT",
    1,
    2200,
    "+39",
    ["Rome", "Milan", "Turin", "Bologna", "Florence", "Naples"],
    ["Poste Italiane", "BRT"]
);
static AUSTRIA: Country = country!(
    "Austria",
    "AT",
    "de-AT",
    1,
    2000,
    "+43",
    ["Vienna", "Graz", "Linz", "Salzburg", "Innsbruck"],
    ["Austrian Post", "DPD"]
);
static BELGIUM: Country = country!(
    "Belgium",
    "BE",
    "nl-BE",
    1,
    2100,
    "+32",
    ["Brussels", "Antwerp", "Ghent", "Liege", "Bruges"],
    ["bpost", "DPD"]
);
static IRELAND: Country = country!(
    "Ireland",
    "IE",
    "en-IE",
    0,
    2300,
    "+353",
    ["Dublin", "Cork", "Galway", "Limerick"],
    ["An Post", "DPD"]
);
static PORTUGAL: Country = country!(
    "Portugal",
    "PT",
    "pt-PT",
    0,
    2300,
    "+351",
    ["Lisbon", "Porto", "Braga", "Coimbra"],
    ["CTT", "DPD"]
);
static UNITED_STATES: Country = country!(
    "United States",
    "US",
    "en-US",
    -5,
    700,
    "+1",
    [
        "New York",
        "Los Angeles",
        "Chicago",
        "Houston",
        "Phoenix",
        "Philadelphia",
        "San Diego",
        "Dallas",
        "Austin",
        "Seattle",
        "Denver",
        "Boston",
        "Portland",
        "Atlanta",
        "Miami",
        "Minneapolis"
    ],
    ["USPS", "UPS", "FedEx"]
);
static UNITED_KINGDOM: Country = country!(
    "United Kingdom",
    "GB",
    "en-GB",
    0,
    2000,
    "+44",
    [
        "London",
        "Manchester",
        "Birmingham",
        "Leeds",
        "Glasgow",
        "Bristol",
        "Edinburgh",
        "Liverpool",
        "Cardiff",
        "Brighton"
    ],
    ["Royal Mail", "DPD", "Evri"]
);
static JAPAN: Country = country!(
    "Japan",
    "JP",
    "ja-JP",
    9,
    1000,
    "+81",
    ["Tokyo", "Osaka", "Yokohama", "Nagoya", "Sapporo", "Fukuoka", "Kyoto"],
    ["Yamato", "Sagawa", "Japan Post"]
);
static CANADA: Country = country!(
    "Canada",
    "CA",
    "en-CA",
    -5,
    1300,
    "+1",
    [
        "Toronto",
        "Montreal",
        "Vancouver",
        "Calgary",
        "Ottawa",
        "Edmonton"
    ],
    ["Canada Post", "Purolator", "UPS"]
);
static AUSTRALIA: Country = country!(
    "Australia",
    "AU",
    "en-AU",
    10,
    1000,
    "+61",
    ["Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide"],
    ["Australia Post", "StarTrack"]
);
static SWITZERLAND: Country = country!(
    "Switzerland",
    "CH",
    "de-CH",
    1,
    810,
    "+41",
    ["Zurich", "Geneva", "Basel", "Bern", "Lausanne"],
    ["Swiss Post", "DHL"]
);
static SWEDEN: Country = country!(
    "Sweden",
    "SE",
    "sv-SE",
    1,
    2500,
    "+46",
    ["Stockholm", "Gothenburg", "Malmo", "Uppsala"],
    ["PostNord", "DHL", "Budbee"]
);

/// The countries a shop in a currency sells to, with their shares of visitors.
pub(crate) struct Market {
    countries: Vec<(&'static Country, Cdf)>,
    shares: Cdf,
}

impl Market {
    /// The market of a shop pricing in `currency`: the euro area for EUR, the home country
    /// for USD, GBP, JPY, CAD, AUD, CHF and SEK, and an international mix otherwise.
    pub(crate) fn for_currency(currency: Currency) -> Self {
        let list: Vec<(&'static Country, f64)> = match currency.code() {
            "EUR" => vec![
                (&GERMANY, 30.0),
                (&FRANCE, 20.0),
                (&NETHERLANDS, 12.0),
                (&SPAIN, 10.0),
                (&ITALY, 10.0),
                (&AUSTRIA, 6.0),
                (&BELGIUM, 6.0),
                (&IRELAND, 3.0),
                (&PORTUGAL, 3.0),
            ],
            "USD" => vec![(&UNITED_STATES, 1.0)],
            "GBP" => vec![(&UNITED_KINGDOM, 1.0)],
            "JPY" => vec![(&JAPAN, 1.0)],
            "CAD" => vec![(&CANADA, 1.0)],
            "AUD" => vec![(&AUSTRALIA, 1.0)],
            "CHF" => vec![(&SWITZERLAND, 1.0)],
            "SEK" => vec![(&SWEDEN, 1.0)],
            _ => vec![
                (&UNITED_STATES, 30.0),
                (&UNITED_KINGDOM, 15.0),
                (&GERMANY, 15.0),
                (&CANADA, 10.0),
                (&AUSTRALIA, 10.0),
                (&FRANCE, 10.0),
                (&JAPAN, 10.0),
            ],
        };
        let shares = Cdf::new(list.iter().map(|(_, w)| *w));
        // Bigger cities first, with a gently falling share.
        let countries = list
            .into_iter()
            .map(|(c, _)| {
                (
                    c,
                    Cdf::new((0..c.cities.len()).map(|i| 1.0 / (i as f64 + 1.0).powf(0.8))),
                )
            })
            .collect();
        Self { countries, shares }
    }

    /// A country and a city in it, by population share.
    pub(crate) fn place(&self, rng: &mut impl Rng) -> (&'static Country, &'static str) {
        let (country, cities) = &self.countries[self.shares.sample(rng)];
        (country, country.cities[cities.sample(rng)])
    }
}

/// What a visitor browses on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceKind {
    /// Phones.
    Mobile,
    /// Laptops and desktops.
    Desktop,
    /// Tablets.
    Tablet,
}

impl DeviceKind {
    /// Segment's `context.device.type`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Mobile => "mobile",
            Self::Desktop => "desktop",
            Self::Tablet => "tablet",
        }
    }

    /// How likely a session on this device goes deeper into the funnel than average: small
    /// screens browse, big ones buy.
    pub(crate) fn intent(self) -> f64 {
        match self {
            Self::Mobile => 0.85,
            Self::Desktop => 1.25,
            Self::Tablet => 1.0,
        }
    }
}

const MOBILE_AGENTS: &[&str] = &[
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36",
];
const DESKTOP_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
];
const TABLET_AGENTS: &[&str] = &[
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
];

/// One browser on one device: it has its own anonymous id (a cookie).
#[derive(Debug, Clone)]
pub(crate) struct Device {
    /// Phone, computer or tablet.
    pub(crate) kind: DeviceKind,
    /// The browser's `anonymousId`, a UUID v4.
    pub(crate) anonymous_id: String,
    /// The browser's user agent.
    pub(crate) user_agent: &'static str,
    /// The address it connects from (documentation ranges only).
    pub(crate) ip: String,
}

/// A random UUID v4, as Segment's libraries make anonymous ids.
fn uuid(rng: &mut impl Rng) -> String {
    let hi: u64 = rng.random();
    let lo: u64 = rng.random();
    let hi = (hi & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000;
    let lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

impl Device {
    /// A device; mobile for most, desktop for a third, tablet for a few.
    fn random(rng: &mut impl Rng) -> Self {
        let kind = match rng.weighted(&[0.58, 0.35, 0.07]) {
            0 => DeviceKind::Mobile,
            1 => DeviceKind::Desktop,
            _ => DeviceKind::Tablet,
        };
        let agents = match kind {
            DeviceKind::Mobile => MOBILE_AGENTS,
            DeviceKind::Desktop => DESKTOP_AGENTS,
            DeviceKind::Tablet => TABLET_AGENTS,
        };
        let range = *rng.pick(&["192.0.2", "198.51.100", "203.0.113"]);
        let ip = format!("{range}.{}", rng.random_range(1..255));
        Self {
            kind,
            anonymous_id: uuid(rng),
            user_agent: *rng.pick(agents),
            ip,
        }
    }
}

const FIRST_NAMES: &[&str] = &[
    "Anna", "Lukas", "Emma", "Noah", "Mia", "Leon", "Sofia", "Elias", "Lea", "Paul", "Clara",
    "Jonas", "Marie", "Luca", "Julia", "Finn", "Laura", "Felix", "Hannah", "Max", "Chloe", "Hugo",
    "Ines", "Louis", "Lucia", "Mateo", "Giulia", "Marco", "Sara", "Daan", "Fleur", "Sem", "Olivia",
    "Liam", "Amelia", "Oliver", "Isla", "Jack", "Ava", "Ethan", "Grace", "James", "Nora", "Samuel",
    "Yuki", "Haruto", "Aoi", "Ren", "Maya", "Omar", "Leila", "Arjun", "Priya", "Tomas", "Eva",
];
const LAST_NAMES: &[&str] = &[
    "Schmidt",
    "Muller",
    "Weber",
    "Fischer",
    "Wagner",
    "Becker",
    "Martin",
    "Bernard",
    "Dubois",
    "Laurent",
    "Moreau",
    "de Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Garcia",
    "Fernandez",
    "Lopez",
    "Martinez",
    "Rossi",
    "Russo",
    "Ferrari",
    "Bianchi",
    "Gruber",
    "Huber",
    "Peeters",
    "Murphy",
    "Kelly",
    "Silva",
    "Santos",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Taylor",
    "Wilson",
    "Davies",
    "Evans",
    "Thomas",
    "Miller",
    "Anderson",
    "Clark",
    "Lewis",
    "Walker",
    "Sato",
    "Suzuki",
    "Tanaka",
    "Nguyen",
    "Khan",
    "Patel",
    "Novak",
    "Lindqvist",
    "Berg",
];
const EMAIL_DOMAINS: &[&str] = &["example.com", "example.org", "example.net"];

/// `first.last` in lower case, spaces removed, for email local parts.
fn local_part(first: &str, last: &str) -> String {
    let mut out = String::with_capacity(first.len() + last.len() + 1);
    out.extend(first.chars().map(|c| c.to_ascii_lowercase()));
    out.push('.');
    out.extend(
        last.chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_lowercase()),
    );
    out
}

/// A fictional phone number in `country`.
fn phone(country: &Country, rng: &mut impl Rng) -> String {
    match country.iso {
        "US" | "CA" => format!(
            "+1 {}-555-01{:02}",
            rng.random_range(201..990),
            rng.random_range(0..100)
        ),
        "GB" => format!("+44 7700 900{:03}", rng.random_range(0..1000)),
        _ => format!("{} 555 {:06}", country.dial, rng.random_range(0..1_000_000)),
    }
}

/// Shared inputs of profile derivation.
pub(crate) struct PeopleContext<'a> {
    /// The spec's seed.
    pub(crate) seed: u64,
    /// The market.
    pub(crate) market: &'a Market,
    /// Number of days generated.
    pub(crate) days: u32,
    /// How busy each day of the period is (signups follow traffic).
    pub(crate) day_traffic: &'a Cdf,
}

/// A known customer's fixed traits and habits.
#[derive(Debug, Clone)]
pub(crate) struct CustomerProfile {
    /// `userId`.
    pub(crate) user_id: String,
    /// Given name.
    pub(crate) first_name: &'static str,
    /// Family name.
    pub(crate) last_name: &'static str,
    /// Email address (example domains).
    pub(crate) email: String,
    /// Phone, for about 40%.
    pub(crate) phone: Option<String>,
    /// Country.
    pub(crate) country: &'static Country,
    /// City.
    pub(crate) city: &'static str,
    /// Consumer, business or government.
    pub(crate) customer_type: CustomerType,
    /// Opted in to marketing email.
    pub(crate) email_consent: bool,
    /// Sessions per average day (heavy-tailed across customers).
    pub(crate) rate: f64,
    /// How much more likely than average this person is to buy (heavy-tailed).
    pub(crate) affinity: f64,
    /// Registered before the period (they log in) rather than during it (they sign up).
    pub(crate) existing: bool,
    /// Day index of the first identified session: the login of an existing customer or the
    /// signup of a new one.
    pub(crate) first_day: u32,
    /// Anonymous visits before signing up (new customers), ascending day indices.
    pub(crate) pre_visits: Vec<u32>,
    /// Number of devices (each is derived with [`customer_device`]).
    pub(crate) devices: u32,
    /// When the account was created, as days before the period's start (existing customers).
    pub(crate) account_age_days: u32,
}

/// Derives customer `index`'s profile.
pub(crate) fn customer(ctx: &PeopleContext, index: u32) -> CustomerProfile {
    let mut rng = rng_for(ctx.seed, Stream::Customer, u64::from(index), 0);
    let first_name = *rng.pick(FIRST_NAMES);
    let last_name = *rng.pick(LAST_NAMES);
    let domain = *rng.pick(EMAIL_DOMAINS);
    // The index keeps addresses unique; people do pick numbered addresses.
    let email = format!(
        "{}.{}@{domain}",
        local_part(first_name, last_name),
        index + 1
    );
    let (country, city) = ctx.market.place(&mut rng);
    let phone = if rng.chance(0.4) {
        Some(phone(country, &mut rng))
    } else {
        None
    };
    let customer_type = match rng.weighted(&[0.92, 0.07, 0.01]) {
        0 => CustomerType::Consumer,
        1 => CustomerType::Business,
        _ => CustomerType::Government,
    };
    let email_consent = rng.chance(0.55);
    let rate = rng.lognormal(RATE_MEDIAN, 1.1).min(0.7);
    let affinity = rng.lognormal(1.0, 0.85).min(8.0);
    let existing = rng.chance(0.4);
    let days = ctx.days.max(1);
    let first_day = if existing {
        // When they would come back anyway; squeezed into the period when that is after it,
        // so that every customer appears.
        let wait = rng.exp(1.0 / rate) as u32;
        if wait < days {
            wait
        } else {
            rng.random_range(0..days)
        }
    } else {
        ctx.day_traffic.sample(&mut rng) as u32
    };
    let mut pre_visits = Vec::new();
    if !existing {
        let n = rng.weighted(&[0.35, 0.35, 0.2, 0.1]);
        for _ in 0..n {
            let before = 1 + rng.exp(5.0) as u32;
            if before <= first_day {
                pre_visits.push(first_day - before);
            }
        }
        pre_visits.sort_unstable();
        pre_visits.dedup();
    }
    let devices = 1 + rng.weighted(&[0.55, 0.35, 0.1]) as u32;
    let account_age_days = if existing {
        rng.random_range(1..1500)
    } else {
        0
    };
    CustomerProfile {
        user_id: format!("C{}", 100_001 + u64::from(index)),
        first_name,
        last_name,
        email,
        phone,
        country,
        city,
        customer_type,
        email_consent,
        rate,
        affinity,
        existing,
        first_day,
        pre_visits,
        devices,
        account_age_days,
    }
}

/// Median sessions per day of a known customer (about 5 a year; the mean is about 10 because
/// the distribution is heavy-tailed).
pub(crate) const RATE_MEDIAN: f64 = 0.015;

/// Device `index` of customer `customer`. Device 0 is the one they use most and sign up on.
pub(crate) fn customer_device(seed: u64, customer: u32, index: u32) -> Device {
    Device::random(&mut rng_for(
        seed,
        Stream::Device,
        u64::from(customer),
        u64::from(index),
    ))
}

/// Which device a customer with `devices` devices uses for a session.
pub(crate) fn pick_device(devices: u32, rng: &mut impl Rng) -> u32 {
    match devices {
        0 | 1 => 0,
        2 => u32::from(rng.chance(0.3)),
        _ => rng.weighted(&[0.6, 0.28, 0.12]) as u32,
    }
}

/// An anonymous-only visitor: someone who never makes an account.
#[derive(Debug, Clone)]
pub(crate) struct AnonProfile {
    /// Their one browser.
    pub(crate) device: Device,
    /// Country.
    pub(crate) country: &'static Country,
    /// City.
    pub(crate) city: &'static str,
    /// The email they type at a guest checkout.
    pub(crate) guest_email: String,
}

/// Derives anonymous visitor `index`'s profile.
pub(crate) fn anon(ctx: &PeopleContext, index: u64) -> AnonProfile {
    let mut rng = rng_for(ctx.seed, Stream::AnonVisitor, index, 0);
    let device = Device::random(&mut rng);
    let (country, city) = ctx.market.place(&mut rng);
    let first = *rng.pick(FIRST_NAMES);
    let last = *rng.pick(LAST_NAMES);
    let mut guest_email = local_part(first, last);
    write!(guest_email, ".g{}@{}", index + 1, rng.pick(EMAIL_DOMAINS))
        .expect("writing to a String cannot fail");
    AnonProfile {
        device,
        country,
        city,
        guest_email,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embudo_core::{AnonymousId, CustomerId, Email};

    #[test]
    fn profiles_are_valid_and_stable() {
        let market = Market::for_currency(Currency::EUR);
        let days = Cdf::new([1.0; 30]);
        let ctx = PeopleContext {
            seed: 3,
            market: &market,
            days: 30,
            day_traffic: &days,
        };
        for i in 0..200 {
            let c = customer(&ctx, i);
            assert!(CustomerId::parse(c.user_id.clone()).is_ok());
            let email = Email::parse(&c.email).unwrap();
            assert!(EMAIL_DOMAINS.iter().any(|d| email.as_str().ends_with(d)));
            assert!(c.first_day < 30 && c.pre_visits.iter().all(|&d| d < c.first_day));
            assert_eq!(customer(&ctx, i).email, c.email);
            let device = customer_device(3, i, 0);
            assert!(AnonymousId::parse(device.anonymous_id.clone()).is_ok());
            assert_eq!(device.anonymous_id.len(), 36);
            let a = anon(&ctx, u64::from(i));
            assert!(Email::parse(&a.guest_email).is_ok());
        }
    }
}
