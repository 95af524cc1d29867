/**
 * Verifiers PostgreSQL 15.18 stored for `CREATE ROLE r PASSWORD '<password>'` with
 * password_encryption = scram-sha-256 (random salts, read back from pg_authid). Each exercises a
 * SASLprep rule; recomputing with the same salt must give the identical string.
 */
export const PG15_VERIFIERS: [name: string, password: string, verifier: string][] = [
  ["ascii", "Tr0ub4dor&3", "SCRAM-SHA-256$4096:jtT3SattgrL+lFMo8LCcDg==$zNFyWoAwc4ZZuLtHYC/BEHhZxLnZ/AHrZ2F/DSk7zrQ=:j2DwxxYuaKEEtfofotifnuqI9RYMEPWLsOVM/kFatLo="],
  ["nbsp", "pa\u00a0ss", "SCRAM-SHA-256$4096:kI4Utlaiitu8B4TX+kUFDg==$H6EAbFAwrGYqv9kXnSN3qLmXZK8K7PxW+tl3CTCDDuc=:OxKtwjbRDqWcZ+abuLKFFwnsngIExzE8et6xA+gPeJE="],
  ["space", "pa ss", "SCRAM-SHA-256$4096:jJKmBSY8tGdwzo00pgFhAw==$EQFdfPKaEmj4G+mHqO9qtIN2j9uRE1tsBYqN/1VSbdk=:FVrWroazoQXZfU9FZku4ypITLr3sM/rL++5ZKRVuPjY="],
  ["ascii-control", "a\u0001b", "SCRAM-SHA-256$4096:e6bLtccjrL0U+VeDlsfJCQ==$PEfSKXMLn0HuDrGgeSO1pi6p86AjrBjPBQ6L28PviuY=:qLeOs/ziZSdzM9NzT18f0lAiEBomJJPeQmaQcbJNvvo="],
  ["only-soft-hyphen", "\u00ad", "SCRAM-SHA-256$4096:HMC36MLTGhCL9XdvcB4skA==$e6ffrn9YnQxA6luyvPQAZlfolIUCQTJGXLvxK8JNTVw=:zrIBYlh7k4lm5/dpCWyq7XnyKAiAoplvfGrhVdtHDRA="],
  ["zwsp-to-space", "x\u200by", "SCRAM-SHA-256$4096:lYBDYOZoTpYUJuHtbW4rEg==$ACoegNs7CfHc4UncQEDtYl1mMEQB60vCOeka9VGFCZU=:Hzl98hSww3VQ3v6Z8C6IlRjnFXhUK8S0i+IgODHABC8="],
  ["trademark", "\u2122", "SCRAM-SHA-256$4096:AZPLTla95ZjuKYhT6p2nSA==$07J232j9mscwPHRaIrDvnDnCC9TUNPg35PRWq5By7Jw=:tL22l5PFXWe9SLWzkDC/kMHkNLTqX4y7MOLZxIUB0mg="],
  ["arabic-tm-arabic", "\u0627\u2122\u0627", "SCRAM-SHA-256$4096:5fD70yQDkjRHhmDjXWynTQ==$KGBV50ZYBstClsMEoNz9TZwg5aCarJN/ZGTJKW5v9Iw=:JQ9kd3iEe82m4s//iUSEBzgLHO/vHwIAhbj8pw1vLQI="],
  ["arabic-latin-arabic", "\u0627a\u0627", "SCRAM-SHA-256$4096:CPFUyvL2OCYbGASqU8e2Ag==$g9nuk6mh2IBrZypg9wyMZZbfRXdg6Vv+BwTrXeE4ME0=:9ZXNwM5f75BI8be0RKbx7d9g+vVYiMfGMzjOKbBDSlw="],
  ["combining-0340", "ab\u0340", "SCRAM-SHA-256$4096:/LolXEkTj32amABfwV9Yug==$z1m9A5X2zsqOd5H8HVnM8NlTwxi/Z9fllJdJuBca2OQ=:Nfp5iqSq+ZO3sTOQif14fLun6nJHNe+gCdi9iHZfRPY="],
  ["emoji", "pw\ud83d\ude00", "SCRAM-SHA-256$4096:gxjq+sFuLnqLrXf32Qe40A==$dc/MXrnGn+LoYfImzk2v3uH7Wjr1PB30epdyxs3IctY=:eiaNR4r2DpjV3vxe4SV7MlnF1FE4ybqs9etLMFTPWvQ="],
  ["fi-ligature", "\ufb01x", "SCRAM-SHA-256$4096:8LTYUTpJqeIY9kjAT5fJCg==$bvZdFLPfdQwmgS1KRNj+xyODBgbEt1RQBYewGESV8tI=:3uDode1uDbHmdJBYRloNoEL23B9tD1hw1elks9DJ8jo="],
  ["a-ring-decomposed", "A\u030a", "SCRAM-SHA-256$4096:eqIV8pAQsVPPxVQgNcWrkg==$k+ojDZZiEYrVae1zbtXzdqgpV3uNtHFQWl8I/MyvwT8=:ZNWKm60WUjTa+zmgI7F54BMfMMdFC4uzRUhgxjDgpIs="],
  ["a-ring-precomposed", "\u00c5", "SCRAM-SHA-256$4096:rKSYFQtYPl4lWU8K9lMzHQ==$tgMuTluSuFnU03O1JmmSZMt1vlRJ3Uv/NTf0c4NZZic=:77ZH4FV2YtcgymwIffIYCKi9lT5iruCFhLVaM6ZgtSk="],
  ["arabic-then-digit", "\u06271", "SCRAM-SHA-256$4096:4S3R4u/fbh1NSnOyN/7yBA==$GnjfKUn9T3AKWOAntz84gdLQPuE6l7+d0KEF4OwNXGw=:vWuAeWU5F6zbj01eFl92XF/rSZpbm5i56OlkHZNtfCw="],
  ["roman-nine", "I\u2168", "SCRAM-SHA-256$4096:C162riJj2fnqlXWhR7pkeA==$+zSWp7034qC4X1eM6VL43tw0mjog+hqqL0VUXtN+8vY=:c4yHH6ODXCBIg+smBmlNnoO+y9kSJDVtHMkTPh0OViw="],
  ["bom-abc", "\ufeffabc", "SCRAM-SHA-256$4096:qR212c33xyqIk9QvJ3tcAg==$JnAPBhBzBgvEZ5XRkirN4HayAy2bb0Bb/bAsHFKO/gg=:Mgh4p5vwWAYOXlh/Z3oMQlG/ZtpzgenHZ5ZgewlGx9I="],
  ["ideographic-space", "a\u3000b", "SCRAM-SHA-256$4096:60N5E6+oBqufPGhu90tdXg==$+tmZrPNd9zI2PzfKK+x1G1Ws5tx9KPx/ISa833nbzC8=:zy1Yo8Ri1TuZXcJybkeszDIvoFvkn8NXmDC1GYHhjGQ="],
  ["private-use", "p\ue000", "SCRAM-SHA-256$4096:hVRdaXbMe3bYyc/W/5XQCQ==$W5lpvPrToLSs7ZG2wYNjX2zw03BBRjMgzn5+4qjmJ6Y=:ig5g+nK3qfPSh6tY2ieQObsP3LRG3CuqpaWcgS6rwnI="],
  ["fullwidth", "\uff21\uff22", "SCRAM-SHA-256$4096:kIxRTlNgtLhNaYmuUHzLvQ==$k11h6TMKKH+ZrRHIBEiXsJthiuLuoMvJknzcGPyDo7k=:SjT8C2y0tirTfns829+21QAegSXh/Om5OEb5IxGkFM4="],
  ["nel", "a\u0085b", "SCRAM-SHA-256$4096:+81i71d328MZ2lWmkX31/g==$ucPXU4NBduIor+xmYBfZo6jzCoFC6YVN1hfOtodKfwM=:ezHLSHmUp10IA2Xpkj2GgpJNMBp6Ixyuk0Agj4aliWY="],
  ["hebrew-only", "\u05d0\u05d1", "SCRAM-SHA-256$4096:aRblw2KfAM44D9sohFPt6w==$enymuuJAYOxU75gWRJY5HS6MFIO1DfGp/myXH0w5sBw=:+mF4lNREsmdyU8gzjRnhcictenwiH1jBfS08VWScfQ0="],
  ["hangul-jamo", "\u1100\u1161", "SCRAM-SHA-256$4096:+xVzLmXQ176Nfuiss1TOMQ==$xORBQoEX/9yHgByeHNnbRyxybmbJadAEK+S3EHrEHZA=:c5NxbHReekxRKd2P2EIxq9ZRaGzKMVe1IIkLZWMYzA8="],
  ["han-supplementary", "\ud840\udc00x", "SCRAM-SHA-256$4096:VtZaZUfGOG8UJpGZ8q4z1A==$KeUyui2BB6rhumNjKt7w9sur6FeXSkGM3mJJ2TdapB0=:915ocx8vZ5Ay9MUsOEzpu79T1AYVDaV40U4Op0kmbNM="],
  ["greek-final", "\u03a3\u0391\u03a3", "SCRAM-SHA-256$4096:/I69WpJGEnPn+8S+siGZmQ==$IXcFmQgjfs+jg2wUMr/PcDKguw2IlTN+84Hb0iQ2AGQ=:n4N8cifmUtwkqAZ2P9hcZR+0CSlAv0TNWg2p+H6GRxM="],
];
