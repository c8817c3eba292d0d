//! The network functions of buildx's standard library (go-cty's, from Terraform):
//! `cidrhost`, `cidrnetmask`, `cidrsubnet` and `cidrsubnets`, for IPv4 and IPv6 prefixes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hcl::Value;
use hcl::eval::{FuncArgs, FuncDef, ParamType};

type Result<T = Value> = std::result::Result<T, String>;

/// The functions, by name.
pub(crate) fn functions() -> Vec<(&'static str, FuncDef)> {
    use ParamType::{Number, String};
    vec![
        (
            "cidrhost",
            FuncDef::builder()
                .param(String)
                .param(Number)
                .build(cidrhost),
        ),
        (
            "cidrnetmask",
            FuncDef::builder().param(String).build(cidrnetmask),
        ),
        (
            "cidrsubnet",
            FuncDef::builder()
                .param(String)
                .param(Number)
                .param(Number)
                .build(cidrsubnet),
        ),
        (
            "cidrsubnets",
            FuncDef::builder()
                .param(String)
                .variadic_param(Number)
                .build(cidrsubnets),
        ),
    ]
}

/// A network: its first address and prefix length, in an address space of `bits` (32 or 128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Network {
    address: u128,
    prefix: u32,
    bits: u32,
}

impl Network {
    /// `address/prefix`, the address masked to its prefix (as Go's `net.ParseCIDR` does).
    fn parse(text: &str) -> Result<Network> {
        let invalid = || format!("invalid CIDR address: {text}");
        let (address, prefix) = text.split_once('/').ok_or_else(invalid)?;
        let address: IpAddr = address.parse().map_err(|_| invalid())?;
        let (address, bits) = match address {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
            IpAddr::V6(v6) => (u128::from(v6), 128),
        };
        let prefix: u32 = prefix.parse().map_err(|_| invalid())?;
        if prefix > bits {
            return Err(invalid());
        }
        let network = Network {
            address,
            prefix,
            bits,
        };
        Ok(Network {
            address: address & network.mask(prefix),
            ..network
        })
    }

    /// The mask of a `prefix`-bit network in this address space.
    fn mask(self, prefix: u32) -> u128 {
        let all = self.all();
        if prefix == 0 {
            0
        } else {
            all & !(all >> prefix)
        }
    }

    /// Every bit of the address space.
    fn all(self) -> u128 {
        if self.bits == 128 {
            u128::MAX
        } else {
            (1u128 << self.bits) - 1
        }
    }

    /// The last address of the network.
    fn last(self) -> u128 {
        self.address | (self.all() & !self.mask(self.prefix))
    }

    fn contains(self, address: u128) -> bool {
        address & self.mask(self.prefix) == self.address
    }

    fn ip(self, address: u128) -> String {
        if self.bits == 32 {
            Ipv4Addr::from(address as u32).to_string()
        } else {
            Ipv6Addr::from(address).to_string()
        }
    }

    fn text(self) -> String {
        format!("{}/{}", self.ip(self.address), self.prefix)
    }
}

fn whole(value: &Value) -> Result<i128> {
    let n = value.as_f64().unwrap_or_default();
    if n.fract() != 0.0 {
        return Err(format!("{n} is not a whole number"));
    }
    Ok(n as i128)
}

fn cidrhost(args: FuncArgs) -> Result {
    let network = Network::parse(args[0].as_str().unwrap_or_default())?;
    let number = whole(&args[1])?;
    let host_bits = network.bits - network.prefix;
    let hosts = if host_bits >= 127 {
        i128::MAX
    } else {
        1i128 << host_bits
    };
    // Negative numbers count back from the end of the range.
    let index = if number < 0 { hosts + number } else { number };
    if index < 0 || index >= hosts {
        return Err(format!(
            "prefix of {} bits cannot accommodate a host numbered {number}",
            network.prefix
        ));
    }
    Ok(network.ip(network.address | index as u128).into())
}

fn cidrnetmask(args: FuncArgs) -> Result {
    let network = Network::parse(args[0].as_str().unwrap_or_default())?;
    if network.bits != 32 {
        return Err("only IPv4 networks are supported".into());
    }
    Ok(network.ip(network.mask(network.prefix)).into())
}

fn cidrsubnet(args: FuncArgs) -> Result {
    let network = Network::parse(args[0].as_str().unwrap_or_default())?;
    let new_bits = whole(&args[1])?;
    let number = whole(&args[2])?;
    if !(0..=32).contains(&new_bits) {
        return Err("may not extend prefix by more than 32 bits".into());
    }
    let prefix = network.prefix + new_bits as u32;
    if prefix > network.bits {
        return Err(format!(
            "insufficient address space to extend prefix of {} by {new_bits}",
            network.prefix
        ));
    }
    if number < 0 || number >= 1i128 << new_bits {
        return Err(format!(
            "prefix extension of {new_bits} does not accommodate a subnet numbered {number}"
        ));
    }
    let subnet = Network {
        address: network.address | ((number as u128) << (network.bits - prefix)),
        prefix,
        bits: network.bits,
    };
    Ok(subnet.text().into())
}

/// Consecutive subnets of the sizes asked for, each after the previous one and aligned to its
/// own size (Terraform's allocation).
fn cidrsubnets(args: FuncArgs) -> Result {
    let network = Network::parse(args[0].as_str().unwrap_or_default())?;
    // Start just before the network: the subnet of its size that precedes it.
    let mut current = Network {
        address: network.address.wrapping_sub(1) & network.all() & network.mask(network.prefix),
        ..network
    };
    let mut subnets = Vec::new();
    for value in args.iter().skip(1) {
        let new_bits = whole(value)?;
        if new_bits < 1 {
            return Err("must extend prefix by at least one bit".into());
        }
        if new_bits > 32 {
            return Err("may not extend prefix by more than 32 bits".into());
        }
        let prefix = network.prefix + new_bits as u32;
        if prefix > network.bits {
            return Err(format!(
                "would extend prefix to {prefix} bits, which is too long for an IPv{} address",
                if network.bits == 32 { 4 } else { 6 }
            ));
        }
        // The subnet of the new size holding the current one's last address, then the next.
        let holding = Network {
            address: current.last() & network.mask(prefix),
            prefix,
            bits: network.bits,
        };
        let after = holding.last().wrapping_add(1) & network.all();
        if after == 0 || !network.contains(after) {
            return Err(format!(
                "not enough remaining address space for a subnet with a prefix of {prefix} \
                 bits after {}",
                current.text()
            ));
        }
        current = Network {
            address: after,
            prefix,
            bits: network.bits,
        };
        subnets.push(Value::from(current.text()));
    }
    Ok(Value::Array(subnets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcl::eval::{Context, Evaluate};

    fn eval(expression: &str) -> std::result::Result<Value, String> {
        let mut ctx = Context::new();
        for (name, def) in functions() {
            ctx.declare_func(name, def);
        }
        let expr: hcl::Expression = expression.parse().unwrap();
        expr.evaluate(&ctx).map_err(|err| err.to_string())
    }

    fn text(expression: &str) -> String {
        match eval(expression).unwrap() {
            Value::String(s) => s,
            other => serde_json::to_string(&other).unwrap(),
        }
    }

    #[test]
    fn the_functions_follow_terraform() {
        assert_eq!(text(r#"cidrhost("10.12.112.0/20", 16)"#), "10.12.112.16");
        assert_eq!(text(r#"cidrhost("10.12.112.0/20", 268)"#), "10.12.113.12");
        assert_eq!(text(r#"cidrhost("10.12.112.0/20", -1)"#), "10.12.127.255");
        assert_eq!(
            text(r#"cidrhost("fd00:fd12:3456:7890:00a2::/72", 34)"#),
            "fd00:fd12:3456:7890::22"
        );
        assert!(
            eval(r#"cidrhost("10.0.0.0/30", 4)"#)
                .unwrap_err()
                .contains("cannot accommodate")
        );
        assert_eq!(text(r#"cidrnetmask("172.16.0.0/12")"#), "255.240.0.0");
        assert_eq!(
            text(r#"cidrsubnet("172.16.0.0/12", 4, 2)"#),
            "172.18.0.0/16"
        );
        assert_eq!(text(r#"cidrsubnet("10.1.2.0/24", 4, 15)"#), "10.1.2.240/28");
        assert_eq!(
            text(r#"cidrsubnet("fd00:fd12:3456:7890::/56", 16, 162)"#),
            "fd00:fd12:3456:7800:a200::/72"
        );
        assert!(
            eval(r#"cidrsubnet("10.0.0.0/8", 2, 4)"#)
                .unwrap_err()
                .contains("does not accommodate")
        );
        assert_eq!(
            text(r#"cidrsubnets("10.1.0.0/16", 4, 4, 8, 4)"#),
            r#"["10.1.0.0/20","10.1.16.0/20","10.1.32.0/24","10.1.48.0/20"]"#
        );
        assert_eq!(
            text(r#"cidrsubnets("fd00:fd12:3456:7890::/56", 16, 16, 16, 32)"#),
            r#"["fd00:fd12:3456:7800::/72","fd00:fd12:3456:7800:100::/72","fd00:fd12:3456:7800:200::/72","fd00:fd12:3456:7800:300::/88"]"#
        );
        assert!(
            eval(r#"cidrsubnets("10.0.0.0/30", 1, 1, 1)"#)
                .unwrap_err()
                .contains("not enough remaining")
        );
        assert!(
            eval(r#"cidrnetmask("10.0.0.0")"#)
                .unwrap_err()
                .contains("invalid CIDR address")
        );
    }
}
