"""WeChat Official Account and WeCom: callback, message crypto, XML and pushes."""
