/// A catalog.yaml for the canonical customers table, for the privacy tests (configuration and end to end).
public enum PrivacyFixture {
    public static let catalog = """
        controller: {name: Cyrus Example Ltd, contact: privacy@cyrus.example, dpo: dpo@cyrus.example}
        columns:
          id: user.unique_id
          first_name: user.name.first
          last_name: user.name.last
          email: user.contact.email
          phone: user.contact.phone_number
          street: user.contact.address.street
          city: user.contact.address.city
          region: user.contact.address.state
          postal_code: user.contact.address.postal_code
          country: user.contact.address.country
          account_status: user.account
          services: user.behavior.purchase_history
          created_at: user.account
          updated_at: user.account
        """
}
