//! The AWS side of EC2 and Lightsail discovery: the keys their sections share
//! (`aws_sd_config!`) with Prometheus's defaults, over the `aws` crate, which finds the
//! region and credentials, signs and sends each API call.

pub(super) use aws::{Aws, Call, Environment, Session, Settings, read_xml};

/// Declares an AWS discovery's section: the keys EC2 and Lightsail discovery share, with
/// Prometheus's defaults, its own keys after them, and the HTTP client settings (as
/// `http_client!` does); and its `aws()`, the [`Settings`] of the section.
macro_rules! aws_sd_config {
    ($(#[doc = $doc:literal])* pub struct $name:ident { $($own:tt)* }) => {
        $crate::config::http_client! {
            $(#[doc = $doc])*
            pub struct $name {
                /// The AWS region; without one, `AWS_REGION` or the instance's own (from
                /// the instance metadata service).
                #[serde(default)]
                pub region: String,
                /// The API's URL (default: the service's in the region,
                /// `https://<service>.<region>.amazonaws.com`).
                #[serde(default)]
                pub endpoint: String,
                /// The access key ID; with `secret_key`, the credentials.
                #[serde(default)]
                pub access_key: String,
                /// The secret access key.
                #[serde(default)]
                pub secret_key: String,
                /// A profile of the shared credentials file.
                #[serde(default)]
                pub profile: String,
                /// A role to assume with the credentials.
                #[serde(default)]
                pub role_arn: String,
                /// How often to ask again (default 1m).
                #[serde(default = "crate::aws::default_refresh_interval")]
                pub refresh_interval: $crate::config::Duration,
                /// The port of the targets (default 80).
                #[serde(default = "crate::aws::default_port")]
                pub port: u16,
                $($own)*
            }
        }

        impl $name {
            /// The AWS settings.
            fn aws(&self) -> $crate::aws::Settings {
                $crate::aws::Settings {
                    region: self.region.clone(),
                    endpoint: self.endpoint.clone(),
                    access_key: self.access_key.clone(),
                    secret_key: self.secret_key.clone(),
                    profile: self.profile.clone(),
                    role_arn: self.role_arn.clone(),
                }
            }
        }
    };
}
pub(super) use aws_sd_config;

/// Prometheus's default `port`.
pub(super) fn default_port() -> u16 {
    80
}

/// Prometheus's default `refresh_interval`.
pub(super) fn default_refresh_interval() -> crate::config::Duration {
    crate::config::Duration(60_000)
}
