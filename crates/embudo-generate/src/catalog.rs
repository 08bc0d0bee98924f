//! The catalog: a home-and-lifestyle shop with five departments, each split into
//! subcategories, stocked by a dozen (invented) brands.
//!
//! * **Size** grows with the shop: about `3·√customers + 40` base products (60 to 1,200),
//!   plus premium variants.
//! * **Prices** are log-normal around each subcategory's typical price (a candle about 18, a
//!   tent about 140), shifted by the brand's positioning, with a few luxury outliers: a long
//!   tail where most products are cheap and a few are expensive.
//! * **Premium variants**: about one product in seven has a "Pro"/"Premium" sibling at 1.6–2.4×
//!   the price, in the same category and brand, tagged `premium`.
//! * **Popularity** is Zipf-like (weight ∝ 1/rank): a few best-sellers get most views, and
//!   premium variants are viewed less than their base product. Sessions sample products from
//!   it, globally or within a category.
//! * About 3% of products are out of stock; they are viewed but never added to a cart.

use crate::price::Pricing;
use crate::rng::{rng_for, Cdf, RngExt, Stream};
use chrono::{DateTime, NaiveDate, Utc};
use embudo_core::{Currency, Product, ProductId};
use rand::Rng;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The shop's public address; product URLs live under it.
pub(crate) const SHOP_URL: &str = "https://shop.example.com";

/// A subcategory: what it sells and for about how much.
struct Sub {
    name: &'static str,
    slug: &'static str,
    /// Typical price in euro-like units.
    median: f64,
    nouns: &'static [&'static str],
    materials: &'static [&'static str],
}

/// A department and its subcategories.
struct Dept {
    name: &'static str,
    slug: &'static str,
    code: &'static str,
    subs: &'static [Sub],
}

const DEPARTMENTS: &[Dept] = &[
    Dept {
        name: "Kitchen",
        slug: "kitchen",
        code: "KIT",
        subs: &[
            Sub {
                name: "Cookware",
                slug: "cookware",
                median: 49.0,
                nouns: &[
                    "Frying Pan",
                    "Saucepan",
                    "Dutch Oven",
                    "Wok",
                    "Skillet",
                    "Stockpot",
                    "Saute Pan",
                ],
                materials: &[
                    "Cast Iron",
                    "Stainless Steel",
                    "Enamelled",
                    "Carbon Steel",
                    "Copper",
                    "Non-Stick",
                ],
            },
            Sub {
                name: "Knives",
                slug: "knives",
                median: 55.0,
                nouns: &[
                    "Chef Knife",
                    "Santoku",
                    "Bread Knife",
                    "Paring Knife",
                    "Knife Block",
                    "Utility Knife",
                ],
                materials: &[
                    "Damascus",
                    "Forged",
                    "Ceramic",
                    "High-Carbon",
                    "Olivewood",
                    "Walnut",
                ],
            },
            Sub {
                name: "Coffee & Tea",
                slug: "coffee-tea",
                median: 32.0,
                nouns: &[
                    "French Press",
                    "Pour-Over Kettle",
                    "Burr Grinder",
                    "Espresso Cups",
                    "Tea Infuser",
                    "Teapot",
                ],
                materials: &[
                    "Glass",
                    "Stoneware",
                    "Brushed Steel",
                    "Matte Black",
                    "Porcelain",
                    "Bamboo",
                ],
            },
            Sub {
                name: "Tableware",
                slug: "tableware",
                median: 29.0,
                nouns: &[
                    "Dinner Plates",
                    "Pasta Bowls",
                    "Tumblers",
                    "Serving Platter",
                    "Cutlery Set",
                    "Wine Glasses",
                ],
                materials: &[
                    "Stoneware",
                    "Porcelain",
                    "Recycled Glass",
                    "Speckled",
                    "Terracotta",
                    "Linen-White",
                ],
            },
        ],
    },
    Dept {
        name: "Home",
        slug: "home",
        code: "HOM",
        subs: &[
            Sub {
                name: "Bedding",
                slug: "bedding",
                median: 65.0,
                nouns: &[
                    "Duvet Cover",
                    "Sheet Set",
                    "Pillow",
                    "Throw Blanket",
                    "Quilt",
                    "Pillowcases",
                ],
                materials: &[
                    "Linen",
                    "Percale",
                    "Organic Cotton",
                    "Sateen",
                    "Waffle",
                    "Wool",
                ],
            },
            Sub {
                name: "Bath",
                slug: "bath",
                median: 27.0,
                nouns: &[
                    "Bath Towel Set",
                    "Bath Mat",
                    "Bathrobe",
                    "Hand Towels",
                    "Shower Curtain",
                    "Soap Dish",
                ],
                materials: &[
                    "Turkish Cotton",
                    "Waffle",
                    "Bamboo",
                    "Terry",
                    "Marble",
                    "Linen",
                ],
            },
            Sub {
                name: "Lighting",
                slug: "lighting",
                median: 75.0,
                nouns: &[
                    "Table Lamp",
                    "Floor Lamp",
                    "Pendant Light",
                    "String Lights",
                    "Wall Sconce",
                    "Desk Lamp",
                ],
                materials: &["Brass", "Rattan", "Opal Glass", "Oak", "Concrete", "Paper"],
            },
            Sub {
                name: "Decor",
                slug: "decor",
                median: 24.0,
                nouns: &[
                    "Vase",
                    "Picture Frame",
                    "Scented Candle",
                    "Planter",
                    "Wall Mirror",
                    "Cushion Cover",
                ],
                materials: &[
                    "Ceramic",
                    "Brass",
                    "Soy Wax",
                    "Terracotta",
                    "Velvet",
                    "Smoked Glass",
                ],
            },
        ],
    },
    Dept {
        name: "Outdoor",
        slug: "outdoor",
        code: "OUT",
        subs: &[
            Sub {
                name: "Garden",
                slug: "garden",
                median: 28.0,
                nouns: &[
                    "Pruning Shears",
                    "Watering Can",
                    "Garden Gloves",
                    "Raised Bed Kit",
                    "Hose Reel",
                    "Trowel Set",
                ],
                materials: &[
                    "Galvanised",
                    "Ash-Handled",
                    "Leather",
                    "Cedar",
                    "Powder-Coated",
                    "Stainless",
                ],
            },
            Sub {
                name: "Camping",
                slug: "camping",
                median: 85.0,
                nouns: &[
                    "Tent",
                    "Sleeping Bag",
                    "Camping Stove",
                    "Headlamp",
                    "Cooler",
                    "Camping Chair",
                ],
                materials: &[
                    "Ultralight",
                    "Ripstop",
                    "Down",
                    "Trail",
                    "Alpine",
                    "Waxed Canvas",
                ],
            },
            Sub {
                name: "Grilling",
                slug: "grilling",
                median: 55.0,
                nouns: &[
                    "Kettle Grill",
                    "Grill Tool Set",
                    "Meat Thermometer",
                    "Chimney Starter",
                    "Grill Brush",
                    "Pizza Stone",
                ],
                materials: &[
                    "Cast Iron",
                    "Stainless Steel",
                    "Cordierite",
                    "Bamboo",
                    "Digital",
                    "Enamelled",
                ],
            },
        ],
    },
    Dept {
        name: "Wellness",
        slug: "wellness",
        code: "WEL",
        subs: &[
            Sub {
                name: "Fitness",
                slug: "fitness",
                median: 32.0,
                nouns: &[
                    "Yoga Mat",
                    "Resistance Bands",
                    "Kettlebell",
                    "Foam Roller",
                    "Jump Rope",
                    "Yoga Block",
                ],
                materials: &[
                    "Cork",
                    "Natural Rubber",
                    "Cast Iron",
                    "Recycled",
                    "Pro-Grip",
                    "Eco",
                ],
            },
            Sub {
                name: "Personal Care",
                slug: "personal-care",
                median: 19.0,
                nouns: &[
                    "Hand Cream",
                    "Face Serum",
                    "Beard Oil",
                    "Shaving Kit",
                    "Body Wash",
                    "Lip Balm",
                ],
                materials: &[
                    "Lavender",
                    "Cedarwood",
                    "Unscented",
                    "Citrus",
                    "Rosehip",
                    "Oat",
                ],
            },
            Sub {
                name: "Sleep",
                slug: "sleep",
                median: 38.0,
                nouns: &[
                    "Sleep Mask",
                    "Aroma Diffuser",
                    "Weighted Blanket",
                    "Pillow Spray",
                    "Sunrise Alarm",
                    "Ear Plugs",
                ],
                materials: &[
                    "Silk",
                    "Ceramic",
                    "Cooling",
                    "Lavender",
                    "Smart",
                    "Memory Foam",
                ],
            },
        ],
    },
    Dept {
        name: "Kids",
        slug: "kids",
        code: "KID",
        subs: &[
            Sub {
                name: "Toys",
                slug: "toys",
                median: 24.0,
                nouns: &[
                    "Building Blocks",
                    "Puzzle",
                    "Plush Bear",
                    "Play Kitchen",
                    "Train Set",
                    "Stacking Rings",
                ],
                materials: &[
                    "Wooden",
                    "Felt",
                    "Organic Cotton",
                    "Beechwood",
                    "Rainbow",
                    "Magnetic",
                ],
            },
            Sub {
                name: "Nursery",
                slug: "nursery",
                median: 34.0,
                nouns: &[
                    "Baby Blanket",
                    "Night Light",
                    "Storage Basket",
                    "Changing Mat",
                    "Mobile",
                    "Muslin Set",
                ],
                materials: &[
                    "Organic Cotton",
                    "Seagrass",
                    "Knitted",
                    "Bamboo",
                    "Felt",
                    "Silicone",
                ],
            },
        ],
    },
];

/// Invented brands: name, price positioning, departments stocked (indices into
/// [`DEPARTMENTS`]).
const BRANDS: &[(&str, f64, &[usize])] = &[
    ("Nordvik", 1.0, &[0, 1]),
    ("Casa Lumo", 1.15, &[1]),
    ("Ferro & Salt", 1.25, &[0, 2]),
    ("Alba Living", 0.9, &[1, 4]),
    ("Kestrel Outdoor", 1.1, &[2]),
    ("Moss & Pine", 1.0, &[1, 2, 3]),
    ("Tallis", 1.4, &[0, 1]),
    ("Brightwell", 0.85, &[0, 1, 3, 4]),
    ("Orla & Finn", 1.0, &[4]),
    ("Vela Studio", 1.3, &[1, 3]),
    ("Hearthstone", 1.05, &[0, 2]),
    ("Little Wren", 0.95, &[4]),
    ("Solace", 1.2, &[3]),
    ("Basics by Embudo", 0.7, &[0, 1, 2, 3, 4]),
];

/// Suffixes of premium variants.
const PREMIUM: &[&str] = &["Pro", "Premium", "Signature Edition", "XL"];

/// A product as the session simulator needs it: the JSON-ready pieces, precomputed once.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// `product_id`.
    pub(crate) id: String,
    /// `sku`.
    pub(crate) sku: String,
    /// `name`.
    pub(crate) name: String,
    /// `category`: the path joined with ` > `, as [`Product::category`] shows it.
    pub(crate) category: String,
    /// `brand`.
    pub(crate) brand: &'static str,
    /// The price in minor units.
    pub(crate) price: i64,
    /// The price as an exact JSON number.
    pub(crate) price_json: Value,
    /// The product page path.
    pub(crate) path: String,
    /// The subcategory's index in [`Catalog::subcategories`].
    pub(crate) sub: usize,
    /// Can be put in a cart.
    pub(crate) in_stock: bool,
    /// `variant` (premium variants).
    pub(crate) variant: Option<&'static str>,
    /// The noun (for search queries).
    pub(crate) noun: &'static str,
}

/// A subcategory as lists and searches see it.
#[derive(Debug, Clone)]
pub(crate) struct Subcategory {
    /// `Department > Subcategory`.
    pub(crate) category: String,
    /// `department/subcategory`, the list id and URL path part.
    pub(crate) list_id: String,
    /// The subcategory's name.
    pub(crate) name: &'static str,
    /// Items of this subcategory (indices into [`Catalog::items`]).
    pub(crate) items: Vec<usize>,
    /// Popularity within the subcategory, aligned with `items`.
    pub(crate) popularity: Cdf,
}

/// The generated catalog.
pub(crate) struct Catalog {
    /// Products, as handed to the shop's catalog API.
    pub(crate) products: Vec<Product>,
    /// The same products, prepared for messages, aligned with `products`.
    pub(crate) items: Vec<Item>,
    /// Subcategories.
    pub(crate) subcategories: Vec<Subcategory>,
    /// Popularity over all items.
    pub(crate) popularity: Cdf,
    /// Popularity of subcategories (sum of their items').
    pub(crate) sub_popularity: Cdf,
}

/// How many base products a shop with `customers` customers has.
fn base_products(customers: u32) -> usize {
    (40.0 + 3.0 * f64::from(customers).sqrt()).clamp(60.0, 1200.0) as usize
}

fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

impl Catalog {
    /// Builds the catalog of a shop with `customers` customers, whose products were created
    /// before `start`.
    pub(crate) fn generate(seed: u64, customers: u32, pricing: &Pricing, start: NaiveDate) -> Self {
        let mut rng = rng_for(seed, Stream::Catalog, 0, 0);
        let subs: Vec<(usize, &Sub)> = DEPARTMENTS
            .iter()
            .enumerate()
            .flat_map(|(d, dept)| dept.subs.iter().map(move |s| (d, s)))
            .collect();
        let mut titles = BTreeSet::new();
        let mut products = Vec::new();
        let mut items: Vec<Item> = Vec::new();
        let mut weights = Vec::new();
        let n = base_products(customers);
        // Popularity rank is a random permutation of creation order, so best-sellers are spread
        // over categories.
        let mut ranks: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            ranks.swap(i, rng.index(i + 1));
        }
        for (i, &rank) in ranks.iter().enumerate() {
            // Round-robin over subcategories with a random offset keeps every category stocked.
            let sub_index = if i < subs.len() {
                i
            } else {
                rng.index(subs.len())
            };
            let (dept_index, sub) = subs[sub_index];
            let dept = &DEPARTMENTS[dept_index];
            let brands: Vec<usize> = (0..BRANDS.len())
                .filter(|&b| BRANDS[b].2.contains(&dept_index))
                .collect();
            let (brand, positioning, _) = BRANDS[*rng.pick(&brands)];
            let noun = *rng.pick(sub.nouns);
            let mut title = format!("{} {}", rng.pick(sub.materials), noun);
            let mut attempt = 0;
            while titles.contains(&title) {
                attempt += 1;
                title = if attempt < 4 {
                    format!("{} {}", rng.pick(sub.materials), noun)
                } else {
                    format!("{} {} No. {}", rng.pick(sub.materials), noun, attempt)
                };
            }
            titles.insert(title.clone());
            let luxury = if rng.chance(0.03) { 3.0 } else { 1.0 };
            let euros = rng.lognormal(sub.median * positioning * luxury, 0.45);
            let price = pricing.shelf_price(euros, &mut rng);
            let weight = 1.0 / (rank as f64 + 2.0);
            let sub_code = slug(sub.name).to_ascii_uppercase();
            let sku = format!(
                "{}-{}-{:04}",
                dept.code,
                &sub_code[..3.min(sub_code.len())],
                i + 1
            );
            let in_stock = !rng.chance(0.03);
            let created = created_before(start, &mut rng);
            let tags = if rank < n / 20 {
                vec!["bestseller".to_string()]
            } else {
                Vec::new()
            };
            let item = make(
                &mut products,
                &mut items,
                Spec {
                    title,
                    sku,
                    dept,
                    sub,
                    sub_index,
                    brand,
                    price,
                    in_stock,
                    variant: None,
                    noun,
                    tags,
                    created,
                },
                pricing,
            );
            weights.push(weight);
            if rng.chance(0.15) {
                let suffix = *rng.pick(PREMIUM);
                let base = &items[item];
                let premium_euros = euros * (1.6 + 0.8 * rng.unit());
                let spec = Spec {
                    title: format!("{} {}", base.name, suffix),
                    sku: format!("{}-P", base.sku),
                    dept,
                    sub,
                    sub_index,
                    brand,
                    price: pricing.shelf_price(premium_euros, &mut rng),
                    in_stock: !rng.chance(0.05),
                    variant: Some(suffix),
                    noun,
                    tags: vec!["premium".to_string()],
                    created: created_before(start, &mut rng),
                };
                make(&mut products, &mut items, spec, pricing);
                // Fewer people look at the expensive sibling.
                weights.push(weight * 0.3);
            }
        }
        let subcategories: Vec<Subcategory> = subs
            .iter()
            .enumerate()
            .map(|(s, (d, sub))| {
                let members: Vec<usize> = (0..items.len()).filter(|&i| items[i].sub == s).collect();
                let popularity = Cdf::new(members.iter().map(|&i| weights[i]));
                Subcategory {
                    category: format!("{} > {}", DEPARTMENTS[*d].name, sub.name),
                    list_id: format!("{}/{}", DEPARTMENTS[*d].slug, sub.slug),
                    name: sub.name,
                    items: members,
                    popularity,
                }
            })
            .collect();
        let sub_popularity = Cdf::new(
            subcategories
                .iter()
                .map(|s| s.items.iter().map(|&i| weights[i]).sum::<f64>()),
        );
        Self {
            products,
            items,
            subcategories,
            popularity: Cdf::new(weights),
            sub_popularity,
        }
    }

    /// A product chosen by popularity.
    pub(crate) fn popular(&self, rng: &mut impl Rng) -> usize {
        self.popularity.sample(rng)
    }

    /// A product of subcategory `sub` chosen by popularity.
    pub(crate) fn popular_in(&self, sub: usize, rng: &mut impl Rng) -> usize {
        let s = &self.subcategories[sub];
        s.items[s.popularity.sample(rng)]
    }

    /// A subcategory chosen by popularity.
    pub(crate) fn popular_sub(&self, rng: &mut impl Rng) -> usize {
        self.sub_popularity.sample(rng)
    }

    /// The Segment e-commerce product properties of item `i`.
    pub(crate) fn properties(
        &self,
        i: usize,
        quantity: i64,
        currency: Currency,
    ) -> Map<String, Value> {
        let item = &self.items[i];
        let mut p = Map::new();
        p.insert("product_id".into(), Value::String(item.id.clone()));
        p.insert("sku".into(), Value::String(item.sku.clone()));
        p.insert("name".into(), Value::String(item.name.clone()));
        p.insert("category".into(), Value::String(item.category.clone()));
        p.insert("brand".into(), Value::String(item.brand.into()));
        if let Some(variant) = item.variant {
            p.insert("variant".into(), Value::String(variant.into()));
        }
        p.insert("price".into(), item.price_json.clone());
        p.insert("quantity".into(), Value::from(quantity));
        p.insert("currency".into(), Value::String(currency.code().into()));
        p.insert(
            "url".into(),
            Value::String(format!("{SHOP_URL}{}", item.path)),
        );
        p
    }
}

/// What [`make`] needs to build one product.
struct Spec {
    title: String,
    sku: String,
    dept: &'static Dept,
    sub: &'static Sub,
    sub_index: usize,
    brand: &'static str,
    price: i64,
    in_stock: bool,
    variant: Option<&'static str>,
    noun: &'static str,
    tags: Vec<String>,
    created: DateTime<Utc>,
}

/// Adds a product and its message-ready twin; returns its index.
fn make(
    products: &mut Vec<Product>,
    items: &mut Vec<Item>,
    spec: Spec,
    pricing: &Pricing,
) -> usize {
    let index = items.len();
    let id = format!("P{}", 10_001 + index);
    let path = format!("/p/{}-{}", slug(&spec.title), id.to_ascii_lowercase());
    let mut product = Product::new(
        ProductId::parse(id.clone()).expect("generated ids are valid"),
        &spec.title,
        pricing.currency(),
    );
    product.sku = Some(spec.sku.clone());
    product.description = Some(format!(
        "{} from {}, part of our {} range. Designed to last and easy to love.",
        spec.title,
        spec.brand,
        spec.sub.name.to_lowercase()
    ));
    product.category_path = vec![spec.dept.name.to_string(), spec.sub.name.to_string()];
    product.brand = Some(spec.brand.to_string());
    product.price = Some(spec.price);
    product.tags = spec.tags;
    product.in_stock = spec.in_stock;
    product.inventory_quantity = Some(if spec.in_stock {
        5 + (spec.price % 37) * 7
    } else {
        0
    });
    product.url = Some(format!("{SHOP_URL}{path}"));
    product.image_url = Some(format!(
        "https://cdn.example.com/images/{}.jpg",
        id.to_ascii_lowercase()
    ));
    product.created_at = Some(spec.created);
    product.updated_at = Some(spec.created);
    items.push(Item {
        id,
        sku: spec.sku,
        name: spec.title,
        category: product.category(),
        brand: spec.brand,
        price: spec.price,
        price_json: pricing.json(spec.price),
        path,
        sub: spec.sub_index,
        in_stock: spec.in_stock,
        variant: spec.variant,
        noun: spec.noun,
    });
    products.push(product);
    index
}

/// A creation time within the two years before `start`.
fn created_before(start: NaiveDate, rng: &mut impl Rng) -> DateTime<Utc> {
    let day = start - chrono::Days::new(rng.random_range(1..730));
    let seconds = rng.random_range(8 * 3600..18 * 3600);
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
        + chrono::Duration::seconds(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(customers: u32) -> Catalog {
        Catalog::generate(
            9,
            customers,
            &Pricing::new(Currency::EUR),
            NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        )
    }

    #[test]
    fn catalog_is_varied_and_valid() {
        let c = catalog(10_000);
        assert!(
            c.products.len() >= 340 && c.products.len() < 450,
            "{}",
            c.products.len()
        );
        assert!(c.subcategories.iter().all(|s| !s.items.is_empty()));
        let titles: BTreeSet<&str> = c.products.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles.len(), c.products.len(), "titles are unique");
        assert!(c
            .products
            .iter()
            .all(|p| p.validate().is_ok() && p.price.unwrap() > 0));
        assert!(c
            .products
            .iter()
            .any(|p| p.tags.contains(&"premium".to_string())));
        let mut prices: Vec<i64> = c.products.iter().map(|p| p.price.unwrap()).collect();
        prices.sort_unstable();
        let (median, p99) = (prices[prices.len() / 2], prices[prices.len() * 99 / 100]);
        assert!(p99 > 4 * median, "long tail: median {median}, p99 {p99}");
    }

    #[test]
    fn popularity_is_skewed() {
        let c = catalog(10_000);
        let mut rng = rng_for(1, Stream::Day, 0, 0);
        let mut hits = vec![0u32; c.items.len()];
        for _ in 0..50_000 {
            hits[c.popular(&mut rng)] += 1;
        }
        hits.sort_unstable_by(|a, b| b.cmp(a));
        let top: u32 = hits[..c.items.len() / 10].iter().sum();
        assert!(
            top > 50_000 / 3,
            "the top 10% get over a third of views: {top}"
        );
    }
}
