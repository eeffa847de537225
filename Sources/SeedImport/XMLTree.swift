import Foundation

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// A small element tree built from XML, namespaces reduced to local names (PSKC files mix the
/// pskc, xmldsig, xmlenc and pkcs5 namespaces under varying prefixes).
final class XMLElement {
  let name: String
  let attributes: [String: String]
  var children: [XMLElement] = []
  var text = ""

  init(name: String, attributes: [String: String]) {
    self.name = name
    self.attributes = attributes
  }

  /// The first child with this local name.
  func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }
  /// Every child with this local name.
  func all(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }
  /// The element at a path of local names.
  func at(_ path: String...) -> XMLElement? {
    var node: XMLElement? = self
    for name in path { node = node?.child(name) }
    return node
  }
  var trimmedText: String { text.trimmingCharacters(in: .whitespacesAndNewlines) }

  /// Parses a document; errors name the line and what the parser saw.
  static func parse(_ data: Data) throws(PSKCError) -> XMLElement {
    // Foundation's parser crashes on an element or attribute name that is not valid UTF-8, so
    // such bytes never reach it.
    guard String(validating: data, as: UTF8.self) != nil else {
      throw .malformed("the file is not UTF-8 text (PSKC files are read as UTF-8 XML)")
    }
    let delegate = TreeBuilder()
    let parser = XMLParser(data: data)
    parser.shouldProcessNamespaces = true
    parser.shouldResolveExternalEntities = false
    parser.delegate = delegate
    guard parser.parse(), let root = delegate.root else {
      // Foundation on Linux names libxml2's errors only by number; say where, which a person can act on.
      let code = parser.parserError.map { " (parser error \(($0 as NSError).code))" } ?? ""
      throw .malformed(
        "the file is not well-formed XML near line \(parser.lineNumber), column \(parser.columnNumber)\(code): look for an unclosed or mismatched tag, a stray < or &, or text outside the root element"
      )
    }
    // The Linux parser reports success on a document cut off mid-way; the open elements tell.
    if let open = delegate.stack.last {
      throw .malformed("the file ends at line \(parser.lineNumber) inside <\(open.name)> (truncated?)")
    }
    return root
  }
}

private final class TreeBuilder: NSObject, XMLParserDelegate {
  var root: XMLElement?
  var stack: [XMLElement] = []
  var elements = 0

  func parser(
    _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
    attributes: [String: String] = [:]
  ) {
    elements += 1
    if elements > 5_000_000 || stack.count > 64 {
      parser.abortParsing()
      return
    }
    let local = name.split(separator: ":").last.map(String.init) ?? name
    let element = XMLElement(name: local, attributes: attributes)
    if let parent = stack.last { parent.children.append(element) } else { root = element }
    stack.append(element)
  }

  func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?)
  {
    _ = stack.popLast()
  }

  func parser(_ parser: XMLParser, foundCharacters string: String) {
    stack.last?.text += string
  }
}
