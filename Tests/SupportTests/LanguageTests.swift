import Localization
import XCTest

/// The language choice (WORKBOOK_LANG, then LC_ALL, LC_MESSAGES, LANG) and terminal widths.
final class LanguageTests: XCTestCase {
    private func language(_ environment: [String: String]) -> Language { Language.choose(environment).language }

    func testEnglishUnlessChineseIsAsked() {
        XCTAssertEqual(language([:]), .english)
        XCTAssertEqual(language(["LANG": "C"]), .english)
        XCTAssertEqual(language(["LANG": "en_US.UTF-8"]), .english)
        XCTAssertEqual(language(["LANG": "fr_FR.UTF-8"]), .english)
        XCTAssertEqual(language(["LANG": "zh_CN.UTF-8"]), .simplifiedChinese)
        XCTAssertEqual(language(["LANG": "zh_TW.UTF-8"]), .simplifiedChinese)
    }

    func testPOSIXOrderAndWorkbookLangFirst() {
        // LC_ALL over LC_MESSAGES over LANG; an empty one is skipped, as POSIX says.
        XCTAssertEqual(language(["LANG": "zh_CN.UTF-8", "LC_ALL": "C"]), .english)
        XCTAssertEqual(language(["LANG": "C", "LC_MESSAGES": "zh_CN.UTF-8"]), .simplifiedChinese)
        XCTAssertEqual(language(["LANG": "zh_CN.UTF-8", "LC_ALL": ""]), .simplifiedChinese)
        XCTAssertEqual(language(["LC_ALL": "zh_CN.UTF-8", "WORKBOOK_LANG": "en"]), .english)
        XCTAssertEqual(language(["LANG": "C", "WORKBOOK_LANG": "zh-Hans"]), .simplifiedChinese)
        XCTAssertEqual(language(["WORKBOOK_LANG": "zh_CN.UTF-8"]), .simplifiedChinese)
        XCTAssertNil(Language.choose(["WORKBOOK_LANG": "zh-Hans"]).notice)
    }

    func testAnUnknownWorkbookLangFallsBackToEnglishWithOneLine() {
        let (chosen, notice) = Language.choose(["WORKBOOK_LANG": "klingon", "LANG": "zh_CN.UTF-8"])
        XCTAssertEqual(chosen, .english)
        let line = try? XCTUnwrap(notice)
        XCTAssertTrue(line?.contains("WORKBOOK_LANG=klingon") ?? false, line ?? "no notice")
        XCTAssertFalse(line?.contains("\n") ?? true)
    }

    func testLocalizedNeedsBothTexts() {
        let text = Localized("done", zh: "已完成")
        XCTAssertEqual(text.text(in: .english), "done")
        XCTAssertEqual(text.text(in: .simplifiedChinese), "已完成")
    }

    func testWideCharactersTakeTwoColumns() {
        XCTAssertEqual("done".displayWidth, 4)
        XCTAssertEqual("已完成".displayWidth, 6)
        XCTAssertEqual("套接字：socket".displayWidth, 14)  // the full-width colon is wide too
        XCTAssertEqual("e\u{301}".displayWidth, 1)  // e + a combining accent
        XCTAssertEqual("已完成".padded(toColumns: 8), "已完成  ")
        XCTAssertEqual("done".padded(toColumns: 8).displayWidth, 8)
        XCTAssertEqual("已完成".padded(toColumns: 4), "已完成")
    }
}
