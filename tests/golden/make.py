#!/usr/bin/env python3
"""Writes the golden messages (tests/golden/*.eml). Run from anywhere; needs `zip`.

The expected scan output beside each (*.json) is written by `LOCTHU_BLESS=1 cargo test --test
golden` and then read and checked by a person: it is what the sender must see."""
import base64, io, os, subprocess, tempfile, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

def b64(data):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76))

def mail(subject, attachments=(), body="Kính gửi các đơn vị,\nXin gửi báo cáo tháng.\n"):
    head = ("From: Văn thư <vanthu@example.org>\nTo: <b@angiang.gov.vn>\n"
            f"Subject: {subject}\nDate: Wed, 02 Dec 2026 08:00:00 +0700\n"
            "Message-ID: <golden@example.org>\nMIME-Version: 1.0\n")
    if not attachments:
        return head + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + body
    out = head + 'Content-Type: multipart/mixed; boundary="=b="\n\n--=b=\n'
    out += "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + body
    for name, ctype, data in attachments:
        out += (f'--=b=\nContent-Type: {ctype}; name="{name}"\n'
                f'Content-Disposition: attachment; filename="{name}"\n'
                f"Content-Transfer-Encoding: base64\n\n{b64(data)}\n")
    return out + "--=b=--\n"

def zip_of(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            z.writestr(name, data)
    return buf.getvalue()

def encrypted_zip(name, data, password):
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        subprocess.run(["zip", "-q", "-P", password, "out.zip", name], cwd=d, check=True)
        return open(os.path.join(d, "out.zip"), "rb").read()

# A minimal PE header: "MZ", e_lfanew at 0x3c pointing to "PE\0\0".
pe = bytearray(256)
pe[0:2] = b"MZ"
pe[0x3c] = 0x80
pe[0x80:0x84] = b"PE\0\0"
docm = zip_of([
    ("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>'),
    ("word/document.xml", "<w:document/>"),
    ("word/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)),
])

messages = {
    "clean-report": mail("Báo cáo tháng 11"),
    "relay-freemail": mail("Chuyển tiếp"),
    "exe-double-extension": mail("Hồ sơ", [("bao-cao.pdf.exe", "application/octet-stream", bytes(pe))]),
    "exe-by-content": mail("Công văn", [("cong-van.pdf", "application/pdf", bytes(pe))]),
    "macro-docm": mail("Dự thảo", [("du-thao.docm", "application/vnd.ms-word.document.macroEnabled.12", docm)]),
    "encrypted-zip": mail("Tài liệu", [("tai-lieu.zip", "application/zip", encrypted_zip("so-lieu.txt", b"so lieu\n" * 20, "matkhau123"))],
                          body="Mật khẩu giải nén: matkhau123\n"),
    "encrypted-zip-no-password": mail("Tài liệu mật khẩu riêng", [("tai-lieu.zip", "application/zip", encrypted_zip("so-lieu.txt", b"so lieu\n" * 20, "khongbiet"))],
                                      body="Mật khẩu sẽ gửi qua điện thoại.\n"),
    "attachment-size": mail("Bản đồ", [("ban-do.pdf", "application/pdf", b"%PDF-1.4\n" + bytes(4000))]),
    "message-size": mail("Ảnh", [("anh.jpg", "image/jpeg", b"\xff\xd8\xff\xe0" + bytes(6000))]),
    "gtube": mail("Khuyến mãi", body="Ưu đãi lớn!\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n"),
    "virus-eicar": mail("Thư lạ", [("hoa-don.com", "application/octet-stream", EICAR)]),
    "virus-in-zip": mail("Hóa đơn", [("hoa-don.zip", "application/zip", zip_of([("hoa-don.txt", EICAR)]))]),
}
for name, text in messages.items():
    if os.path.exists(os.path.join(HERE, name + ".eml")) and not os.environ.get("REMAKE"):
        continue  # encrypted zips differ on every run; keep what the expectations were made from
    with open(os.path.join(HERE, name + ".eml"), "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
