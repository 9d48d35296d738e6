"""The passive CDN: fetch each source once, cut it into framed pieces, keep and serve them."""
