//! Which origins belong to the deployment, so that the access token may be sent there
//! (`auth.fetch` attaches it only to them): the deployment URL's own origin, and for a Convex
//! cloud deployment `https://<name>.convex.cloud` the origin of its HTTP actions,
//! `https://<name>.convex.site`. Origins are serialised as the URL standard does
//! (`scheme://host[:port]`, lower case, no default port); in the browser they come from the
//! browser's own URL parser, the one `fetch` uses.

/// Whether `origin` belongs to the deployment whose origin is `deployment`.
pub fn is_deployment_origin<'a>(deployment: &'a str, origin: &'a str) -> bool {
    if origin == deployment {
        return true;
    }
    // `https://<name>.convex.cloud` (no port) and `https://<name>.convex.site`.
    let name = |o: &'_ str, suffix: &str| -> Option<String> {
        let host = o.strip_prefix("https://")?.strip_suffix(suffix)?;
        let plain = !host.is_empty() && host.bytes().all(|b| b != b':' && b != b'/');
        plain.then(|| host.to_owned())
    };
    match (
        name(deployment, ".convex.cloud"),
        name(origin, ".convex.site"),
    ) {
        (Some(cloud), Some(site)) => cloud == site,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_origins() {
        let cloud = "https://happy-animal-123.convex.cloud";
        assert!(is_deployment_origin(cloud, cloud));
        assert!(is_deployment_origin(
            cloud,
            "https://happy-animal-123.convex.site"
        ));
        assert!(!is_deployment_origin(cloud, "https://other.convex.site"));
        assert!(!is_deployment_origin(
            cloud,
            "http://happy-animal-123.convex.site"
        ));
        assert!(!is_deployment_origin(
            cloud,
            "https://happy-animal-123.convex.site:8443"
        ));
        assert!(!is_deployment_origin(
            cloud,
            "https://happy-animal-123.convex.site.evil.com"
        ));
        assert!(!is_deployment_origin(cloud, "https://evil.com"));
        assert!(!is_deployment_origin(cloud, "null"));
        let local = "http://127.0.0.1:3210";
        assert!(is_deployment_origin(local, local));
        assert!(!is_deployment_origin(local, "http://127.0.0.1:3211"));
        assert!(!is_deployment_origin(local, "http://localhost:3210"));
        // Only a cloud deployment over https has a .convex.site twin.
        assert!(!is_deployment_origin(
            "http://a.convex.cloud",
            "https://a.convex.site"
        ));
        assert!(!is_deployment_origin(
            "https://a.convex.cloud:444",
            "https://a.convex.site"
        ));
        assert!(!is_deployment_origin(
            "https://.convex.cloud",
            "https://.convex.site"
        ));
    }
}
